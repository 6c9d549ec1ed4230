package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/table"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
)

// These tests run the agent's loop with real TC programs on real veth
// interfaces. The datapath and the loader are stand-ins the test controls
// (a table that fails to apply, a compile that takes long), which the real
// BPF maps and compiler cannot be made to do on demand.

func needRoot(t testing.TB) {
	t.Helper()
	netns.RequireRoot(t)
}

// testDatapath attaches a program that lets every packet through and
// applies tables by calling apply (success when nil).
type testDatapath struct {
	prog *ebpf.Program

	mu      sync.Mutex
	apply   func(*table.Table) error
	applied int
}

func newTestDatapath(t *testing.T) *testDatapath {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "axon_agent_test", Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Fatalf("loading test program: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return &testDatapath{prog: p}
}

func (d *testDatapath) Programs() attach.Programs {
	return attach.Programs{Ingress: d.prog, Egress: d.prog}
}

func (d *testDatapath) Apply(t *table.Table) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.apply != nil {
		if err := d.apply(t); err != nil {
			return err
		}
	}
	d.applied++
	return nil
}

func (d *testDatapath) setApply(f func(*table.Table) error) {
	d.mu.Lock()
	d.apply = f
	d.mu.Unlock()
}

func (d *testDatapath) appliedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.applied
}

func (d *testDatapath) Counters() (datapath.Counters, error) {
	return datapath.Counters{Rules: map[datapath.RuleVerdict]uint64{}, Reasons: map[string]uint64{}}, nil
}

func (d *testDatapath) PinnedPolicy() bool { return false }

// emptyLoader compiles every directory to an empty table.
func emptyLoader(string, map[string][]byte, *table.Table) (*table.Table, []string, error) {
	return &table.Table{}, nil, nil
}

func vethName() string { return fmt.Sprintf("axag%d", rand.IntN(1e6)) }

// addVeth creates a veth pair named name (and name+"p"), up.
func addVeth(t *testing.T, name string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("adding veth %s: %v", name, err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(v) })
	if err := netlink.LinkSetUp(v); err != nil {
		t.Fatal(err)
	}
}

// testPinDir returns a fresh bpffs directory, cleaned up after the test.
func testPinDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(attach.DefaultBPFFS, fmt.Sprintf("axon-agent-test-%d", rand.IntN(1e9)))
	t.Cleanup(func() { _ = attach.Cleanup(dir, nil) })
	return dir
}

// startAgent runs an agent until the test ends, with short periods.
func startAgent(t *testing.T, cfg Config, dp Datapath, load Loader) *Agent {
	t.Helper()
	needRoot(t)
	if cfg.PinDir == "" {
		cfg.PinDir = testPinDir(t)
	}
	if cfg.PolicyDir == "" {
		cfg.PolicyDir = t.TempDir()
	}
	cfg.MetricsAddr = "127.0.0.1:0"
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.RetryAttach == 0 {
		cfg.RetryAttach = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a, err := New(cfg, dp, load)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return a
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// series returns the samples of a metric family as label sets and values.
func series(t *testing.T, a *Agent, name string) []sample {
	t.Helper()
	fams, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

type sample struct {
	labels map[string]string
	value  float64
}

func value(t *testing.T, a *Agent, name string, labels map[string]string) float64 {
	t.Helper()
	var sum float64
next:
	for _, s := range series(t, a, name) {
		for k, v := range labels {
			if s.labels[k] != v {
				continue next
			}
		}
		sum += s.value
	}
	return sum
}

var errTest = errors.New("test failure")

// Stopping the agent is not an error, however the shutdown of its metrics
// server and the end of its context interleave: here the server has shut
// down by the time Run, busy with a reload, looks at both.
func TestRunReturnsNilWhenStopped(t *testing.T) {
	needRoot(t)
	dp := newTestDatapath(t)
	for i := range 10 {
		dir := t.TempDir()
		var calls atomic.Int32
		compiling, release := make(chan struct{}), make(chan struct{})
		load := func(string, map[string][]byte, *table.Table) (*table.Table, []string, error) {
			if calls.Add(1) == 2 {
				close(compiling)
				<-release
			}
			return &table.Table{}, nil, nil
		}
		pins := filepath.Join(attach.DefaultBPFFS, fmt.Sprintf("axon-agent-test-%d", rand.IntN(1e9)))
		a, err := New(Config{PolicyDir: dir, Interfaces: []string{vethName()}, MetricsAddr: "127.0.0.1:0",
			PinDir: pins, PollInterval: 10 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, dp, load)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		waitFor(t, 5*time.Second, "the first policy set", func() bool { return a.Table() != nil })
		if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("# changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		<-compiling
		cancel()
		time.Sleep(50 * time.Millisecond) // the metrics server shuts down
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("round %d: Run returned %v after its context ended, want nil", i, err)
		}
		_ = attach.Cleanup(pins, nil)
	}
}
