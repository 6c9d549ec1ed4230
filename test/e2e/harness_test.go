package e2e

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/axon-dev/axon/test/netns"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// agentBin is the axon-agent binary built once for the whole package.
var agentBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test skips with "needs root"; nothing to build.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "axon-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBin = filepath.Join(dir, "axon-agent")
	cmd := exec.Command("go", "build", "-o", agentBin, "github.com/axon-dev/axon/cmd/axon-agent")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building axon-agent:", err)
		return 1
	}
	return m.Run()
}

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// agentProc is one running axon-agent.
type agentProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	Addr   string // metrics address
	PinDir string
	Logs   *syncBuffer
	done   chan struct{}
}

// testPinDir returns a fresh bpffs directory for one test, removed (with
// everything attached from it) at cleanup.
func testPinDir(t *testing.T) string {
	t.Helper()
	dir := fmt.Sprintf("/sys/fs/bpf/axon-e2e-%d", time.Now().UnixNano())
	t.Cleanup(func() { runCleanup(t, dir) })
	return dir
}

func runCleanup(t *testing.T, pinDir string) {
	t.Helper()
	out, err := exec.Command(agentBin, "cleanup", "--pin-dir", pinDir).CombinedOutput()
	if err != nil {
		t.Errorf("axon-agent cleanup: %v\n%s", err, out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startAgent runs axon-agent on policyDir attached to ifaces and waits until
// /readyz answers 200. The process is killed at cleanup; its pins stay for
// the pin directory's own cleanup.
func startAgent(t *testing.T, policyDir, pinDir string, ifaces ...string) *agentProc {
	t.Helper()
	return startAgentMode(t, "auto", policyDir, pinDir, ifaces...)
}

// startAgentMode is startAgent with an --attach-mode (auto, tcx, clsact).
func startAgentMode(t *testing.T, mode, policyDir, pinDir string, ifaces ...string) *agentProc {
	t.Helper()
	a := launchAgentMode(t, mode, policyDir, pinDir, ifaces...)
	a.WaitReady(15 * time.Second)
	return a
}

func launchAgent(t *testing.T, policyDir, pinDir string, ifaces ...string) *agentProc {
	t.Helper()
	return launchAgentMode(t, "auto", policyDir, pinDir, ifaces...)
}

func launchAgentMode(t *testing.T, mode, policyDir, pinDir string, ifaces ...string) *agentProc {
	t.Helper()
	a := &agentProc{t: t, Addr: freeAddr(t), PinDir: pinDir, Logs: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(agentBin, "--policy-dir", policyDir, "--attach", strings.Join(ifaces, ","),
		"--metrics-addr", a.Addr, "--pin-dir", pinDir, "--attach-mode", mode, "--log-decisions")
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

// Kill sends SIGKILL and waits for the process to go.
func (a *agentProc) Kill() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

func (a *agentProc) get(path string) (int, string, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + a.Addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// WaitReady waits for /readyz to answer 200.
func (a *agentProc) WaitReady(timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-a.done:
			a.t.Fatalf("agent exited before ready:\n%s", a.Logs.String())
		default:
		}
		code, body, err := a.get("/readyz")
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
func (a *agentProc) Metric(name string, labels map[string]string) float64 {
	a.t.Helper()
	v, err := a.metric(name, labels)
	if err != nil {
		a.t.Fatal(err)
	}
	return v
}

func (a *agentProc) metric(name string, labels map[string]string) (float64, error) {
	code, body, err := a.get("/metrics")
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
func (a *agentProc) WaitMetric(name string, labels map[string]string, timeout time.Duration, cond func(float64) bool) float64 {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := a.metric(name, labels)
		if err == nil && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("metric %s%v = %v (%v): condition not met within %v\n%s", name, labels, v, err, timeout, a.Logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeFile writes one file of a policy directory atomically (rename), as
// editors and ConfigMap updates do.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// outcome is what a client saw: "200" or another status, "reset", "timeout"
// or "error: ...".
func curlOutcome(t *testing.T, h *netns.Host, url string, args ...string) string {
	t.Helper()
	res, err := h.Curl(context.Background(), append(args, "--max-time", "10", url)...)
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	if res.ExitCode == 0 {
		return fmt.Sprint(res.Status)
	}
	return curlFailure(res.ExitCode, res.Output)
}

// curlFailure names a failed curl run: "reset" only for a TCP reset (exit 56
// with "Connection reset by peer"), "timeout" for exit 28, "closed" for a
// connection the server closed without answering (exit 52), else the error.
// A server that closes is not a denial: Axon resets.
func curlFailure(exit int, output string) string {
	switch {
	case exit == 56 && strings.Contains(strings.ToLower(output), "connection reset by peer"):
		return "reset"
	case exit == 28:
		return "timeout"
	case exit == 52:
		return "closed"
	}
	return fmt.Sprintf("error: curl exit %d: %s", exit, strings.TrimSpace(output))
}

// goOutcome sends one request with a Go client from h.
func goOutcome(h *netns.Host, method, url string) string {
	c := h.HTTPClient(10*time.Second, false)
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return "error: " + err.Error()
	}
	return outcome(c.Do(req))
}

// outcome names the result of one Go client request: the status, "reset"
// for a TCP reset, "timeout", or "error: ..." (which includes a server that
// closed the connection without answering: that is not a denial).
func outcome(resp *http.Response, err error) string {
	if err != nil {
		if isReset(err) {
			return "reset"
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return "timeout"
		}
		return "error: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return fmt.Sprint(resp.StatusCode)
}

// isReset reports whether err is a TCP reset of the connection, as Axon's
// datapath sends for a denied request. An EOF (the server closed) is not.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}
