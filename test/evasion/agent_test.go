package evasion

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

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

// agent is one running axon-agent process.
type agent struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // metrics address
	logs *syncBuffer
	done chan struct{}
}

// startAgent runs the real axon-agent on policyDir attached to ifaces with
// a fresh pin directory, and waits until /readyz answers 200. The process
// is killed and its pins removed at cleanup.
func startAgent(t *testing.T, policyDir string, ifaces ...string) *agent {
	t.Helper()
	return startAgentArgs(t, policyDir, nil, ifaces...)
}

// startAgentArgs is startAgent with extra command-line flags.
func startAgentArgs(t *testing.T, policyDir string, extra []string, ifaces ...string) *agent {
	t.Helper()
	pinDir := fmt.Sprintf("/sys/fs/bpf/axon-evasion-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		if out, err := exec.Command(agentBin, "cleanup", "--pin-dir", pinDir).CombinedOutput(); err != nil {
			t.Errorf("axon-agent cleanup: %v\n%s", err, out)
		}
	})
	a := &agent{t: t, addr: freeAddr(t), logs: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(agentBin, append([]string{"--policy-dir", policyDir, "--attach", strings.Join(ifaces, ","),
		"--metrics-addr", a.addr, "--pin-dir", pinDir, "--log-decisions"}, extra...)...)
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting agent: %v", err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			_ = a.cmd.Process.Signal(syscall.SIGKILL)
			<-a.done
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logs.String())
		}
	})
	a.waitReady(20 * time.Second)
	return a
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

func (a *agent) get(path string) (int, string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + a.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func (a *agent) waitReady(timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-a.done:
			a.t.Fatalf("agent exited before ready:\n%s", a.logs.String())
		default:
		}
		code, body, err := a.get("/readyz")
		if err == nil && code == 200 {
			return
		}
		last = fmt.Sprint(code, " ", body, err)
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatalf("agent not ready after %v (last /readyz: %s)\n%s", timeout, last, a.logs.String())
}

// metric returns the sum of the samples of family name whose labels include
// labels (0 when none match).
func (a *agent) metric(name string, labels map[string]string) float64 {
	a.t.Helper()
	code, body, err := a.get("/metrics")
	if err != nil || code != 200 {
		a.t.Fatalf("scraping metrics: %d %v", code, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		a.t.Fatalf("parsing metrics: %v", err)
	}
	var sum float64
next:
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}
