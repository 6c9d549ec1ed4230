package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
)

// agentProc is one running axon-agent.
type agentProc struct {
	*daemon
	bin, pinDir, metrics string
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startAgent starts the agent on policyDir attached to the server's bridge
// port and waits until it is ready (policy in the maps, programs attached).
func startAgent(bin, work, pinDir, policyDir string, observe bool, logName string) (*agentProc, error) {
	a, err := launchAgent(bin, work, pinDir, policyDir, observe, logName)
	if err != nil {
		return nil, err
	}
	if err := a.waitReady(120 * time.Second); err != nil {
		_ = a.stopAndCleanup()
		return nil, err
	}
	return a, nil
}

// agentLogLevel is the agents' --log-level (bench-e2e's --agent-log-level):
// debug logs each reload's stages.
var agentLogLevel = "info"

// launchAgent starts the agent without waiting for it; extra are more flags.
func launchAgent(bin, work, pinDir, policyDir string, observe bool, logName string, extra ...string) (*agentProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	c := exec.Command(bin, append([]string{"--policy-dir", policyDir, "--attach", srvPort, "--metrics-addr", addr,
		"--pin-dir", pinDir, "--observe=" + strconv.FormatBool(observe), "--log-level", agentLogLevel}, extra...)...)
	d, err := startDaemon("axon-agent", filepath.Join(work, logName), c)
	if err != nil {
		return nil, err
	}
	return &agentProc{daemon: d, bin: bin, pinDir: pinDir, metrics: addr}, nil
}

// lastError is the last error line of the agent's log.
func (a *agentProc) lastError() string {
	b, _ := os.ReadFile(a.log.Name())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "level=ERROR") {
			if j := strings.Index(lines[i], "error="); j >= 0 {
				return lines[i][j+len("error="):]
			}
			return lines[i]
		}
	}
	return "(no error in the log)"
}

func (a *agentProc) get(path string) (int, string, error) {
	cl := http.Client{Timeout: 2 * time.Second}
	r, err := cl.Get("http://" + a.metrics + path)
	if err != nil {
		return 0, "", err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return r.StatusCode, string(b), err
}

func (a *agentProc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if !a.alive() {
			b, _ := os.ReadFile(a.log.Name())
			return fmt.Errorf("the agent exited:\n%s", b)
		}
		code, body, err := a.get("/readyz")
		if err == nil && code == 200 {
			return nil
		}
		last = body
		for _, stage := range []string{"source", "compile"} {
			if e, _ := a.metric("axon_policy_load_errors_total", `stage="`+stage+`"`); e > 0 {
				return fmt.Errorf("the agent could not load the folder: %s", a.lastError())
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the agent was not ready after %v: %s", timeout, last)
}

// metric sums the samples of name whose labels contain every substring.
func (a *agentProc) metric(name string, subs ...string) (float64, error) {
	_, body, err := a.get("/metrics")
	if err != nil {
		return 0, err
	}
	sum := 0.0
lines:
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, name) || (len(l) > len(name) && l[len(name)] != '{' && l[len(name)] != ' ') {
			continue
		}
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue lines
			}
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// vmHWM is the agent's peak resident set size in bytes.
func (a *agentProc) vmHWM() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM")
}

func (a *agentProc) pid() int { return a.cmd.Process.Pid }

// processCPU is the CPU time (user + system, every thread) process pid has
// used so far, or 0 for pid 0. /proc counts it in clock ticks of 10 ms.
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// stopAndCleanup stops the agent and removes its attachments and pins: the
// next scenario runs with no program on the path.
func (a *agentProc) stopAndCleanup() error {
	if a == nil {
		return nil
	}
	a.stop()
	return cleanupPins(a.bin, a.pinDir)
}

func cleanupPins(bin, pinDir string) error {
	if err := run(bin, "cleanup", "--pin-dir", pinDir); err != nil {
		return fmt.Errorf("agent cleanup: %w", err)
	}
	return nil
}

// activeGen opens the pinned config map whose first entry holds the active
// generation (bpf/include/policy_maps.h rule 1).
func activeGen(pinDir string) (func() (uint32, error), func(), error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "config"), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("opening pinned config map: %w", err)
	}
	read := func() (uint32, error) {
		var v []byte
		if err := m.Lookup(uint32(0), &v); err != nil {
			return 0, err
		}
		if len(v) < 4 {
			return 0, fmt.Errorf("config value of %d bytes", len(v))
		}
		return uint32(v[0]) | uint32(v[1])<<8 | uint32(v[2])<<16 | uint32(v[3])<<24, nil
	}
	return read, func() { m.Close() }, nil
}
