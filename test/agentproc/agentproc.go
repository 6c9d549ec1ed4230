package agentproc

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/axon-dev/axon/test/netns"
)

// Build compiles cmd/axon-agent into a fresh temporary directory and returns
// the binary's path and a function that removes it.
func Build() (bin string, remove func(), err error) { return BuildCommand("axon-agent") }

// BuildCommand compiles cmd/<name> (axon-agent, axon) into a fresh
// temporary directory and returns the binary's path and a function that
// removes it.
func BuildCommand(name string) (bin string, remove func(), err error) {
	dir, err := os.MkdirTemp("", name+"-bin")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, "github.com/axon-dev/axon/cmd/"+name)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("building %s: %w", name, err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// SyncBuffer collects a process's output safely across goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PinDir returns a fresh bpffs directory for one test; at cleanup `bin
// cleanup` removes it with everything attached from it.
func PinDir(t testing.TB, bin, prefix string) string {
	t.Helper()
	dir := fmt.Sprintf("/sys/fs/bpf/%s-%d", prefix, time.Now().UnixNano())
	t.Cleanup(func() { Cleanup(t, bin, dir) })
	return dir
}

// Cleanup runs `bin cleanup --pin-dir pinDir`, failing t if it fails.
func Cleanup(t testing.TB, bin, pinDir string) {
	t.Helper()
	out, err := exec.Command(bin, "cleanup", "--pin-dir", pinDir).CombinedOutput()
	if err != nil {
		t.Errorf("axon-agent cleanup: %v\n%s", err, out)
	}
}

// Config is what an agent is started with.
type Config struct {
	PolicyDir string
	PinDir    string
	Ifaces    []string
	Mode      string   // --attach-mode; "auto" when empty
	Args      []string // more flags

	// Cluster mode: Kubeconfig (instead of PolicyDir) and NodeName.
	Kubeconfig string
	NodeName   string
	// NetNS, when set, is the named network namespace (ip netns) the agent
	// runs in, entered with nsenter (network only: the agent shares this
	// process's bpffs). Its metrics address is in that namespace.
	NetNS string
}

// Proc is one running axon-agent.
type Proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	Addr   string // metrics address
	PinDir string
	Logs   *SyncBuffer
	done   chan struct{}
	netns  string // Config.NetNS
}

// Launch starts the agent without waiting for it to be ready. It is killed
// at cleanup (its pins stay for the pin directory's cleanup), and its log is
// printed if the test failed.
func Launch(t testing.TB, bin string, c Config) *Proc {
	t.Helper()
	if c.Mode == "" {
		c.Mode = "auto"
	}
	a := &Proc{t: t, Addr: freeAddr(t), PinDir: c.PinDir, Logs: &SyncBuffer{}, done: make(chan struct{}), netns: c.NetNS}
	var args []string
	if c.Kubeconfig != "" {
		args = append(args, "--kubeconfig", c.Kubeconfig, "--node-name", c.NodeName)
	} else {
		args = append(args, "--policy-dir", c.PolicyDir)
	}
	if len(c.Ifaces) > 0 {
		args = append(args, "--attach", strings.Join(c.Ifaces, ","))
	}
	args = append(append(args, "--metrics-addr", a.Addr, "--pin-dir", c.PinDir, "--attach-mode", c.Mode,
		"--log-decisions"), c.Args...)
	if c.NetNS != "" {
		args = append([]string{"--net=/run/netns/" + c.NetNS, bin}, args...)
		bin = "nsenter"
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = a.Logs, a.Logs
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting agent: %v", err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.Kill()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.Logs.String())
		}
	})
	return a
}

// Start is Launch, then WaitReady.
func Start(t testing.TB, bin string, c Config, ready time.Duration) *Proc {
	t.Helper()
	a := Launch(t, bin, c)
	a.WaitReady(ready)
	return a
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Stop sends SIGTERM and waits for the process to go (a clean stop: its
// programs stay attached and enforcing).
func (a *Proc) Stop() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	<-a.done
}

// Exited reports whether the process has ended.
func (a *Proc) Exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL and waits for the process to go.
func (a *Proc) Kill() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

// Get fetches a path of the agent's HTTP endpoint.
func (a *Proc) Get(path string) (int, string, error) {
	c := http.Client{Timeout: 10 * time.Second}
	if a.netns != "" {
		h := &netns.Host{NS: a.netns}
		c.Transport = &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}
	}
	resp, err := c.Get("http://" + a.Addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// WaitReady waits for /readyz to answer 200.
func (a *Proc) WaitReady(timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-a.done:
			a.t.Fatalf("agent exited before ready:\n%s", a.Logs.String())
		default:
		}
		code, body, err := a.Get("/readyz")
		if err == nil && code == 200 {
			return
		}
		last = fmt.Sprint(code, " ", body, err)
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatalf("agent not ready after %v (last /readyz: %s)\n%s", timeout, last, a.Logs.String())
}

// Metric returns the value of the sample of family name whose labels
// include labels, summed over all matching samples; 0 when none match.
func (a *Proc) Metric(name string, labels map[string]string) float64 {
	a.t.Helper()
	v, err := a.MetricErr(name, labels)
	if err != nil {
		a.t.Fatal(err)
	}
	return v
}

// MetricErr is Metric returning the scrape error instead of failing.
func (a *Proc) MetricErr(name string, labels map[string]string) (float64, error) {
	code, body, err := a.Get("/metrics")
	if err != nil || code != 200 {
		return 0, fmt.Errorf("scraping metrics: %d %v", code, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("parsing metrics: %w", err)
	}
	f, ok := fams[name]
	if !ok {
		return 0, nil
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum, nil
}

// WaitMetric waits until cond holds for the metric's value (scrape errors
// while the agent starts are retried).
func (a *Proc) WaitMetric(name string, labels map[string]string, timeout time.Duration, cond func(float64) bool) float64 {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := a.MetricErr(name, labels)
		if err == nil && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("metric %s%v = %v (%v): condition not met within %v\n%s", name, labels, v, err, timeout, a.Logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pid is the agent's process id.
func (a *Proc) Pid() int { return a.cmd.Process.Pid }
