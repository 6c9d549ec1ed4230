package agent

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axon-dev/axon/policy/table"
)

// lockedBuffer is a log sink safe across the agent's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A table the maps reject is applied again, with backoff, although the
// policy directory does not change; each failure is logged and counted.
func TestFailedApplyIsRetried(t *testing.T) {
	needRoot(t)
	name := vethName()
	addVeth(t, name)
	dp := newTestDatapath(t)
	dp.setApply(func(*table.Table) error { return errTest })
	logs := &lockedBuffer{}
	a := startAgent(t, Config{Interfaces: []string{name}, RetryApply: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, dp, emptyLoader)

	waitFor(t, 5*time.Second, "three failed applies", func() bool {
		return value(t, a, "axon_policy_load_errors_total", map[string]string{"stage": "apply"}) >= 3
	})
	if err := a.Ready(); err == nil {
		t.Fatal("ready although no table could be applied")
	}
	if n := strings.Count(logs.String(), "writing policy into maps failed"); n < 3 {
		t.Errorf("%d failed applies logged, want one line per failure (>= 3):\n%s", n, logs)
	}

	dp.setApply(nil) // the map error goes away
	waitFor(t, 5*time.Second, "the retried table to be applied", func() bool { return a.Ready() == nil })
	if v := value(t, a, "axon_policy_generation", nil); v != 1 {
		t.Errorf("axon_policy_generation = %v, want 1", v)
	}
	if v := value(t, a, "axon_policy_last_load_ok", nil); v != 1 {
		t.Errorf("axon_policy_last_load_ok = %v, want 1", v)
	}
	// Once applied, nothing is retried any more.
	n := dp.appliedCount()
	time.Sleep(200 * time.Millisecond)
	if m := dp.appliedCount(); m != n {
		t.Errorf("%d more applies after success; the retry did not stop", m-n)
	}
}

func TestBackoffDoublesUpToMax(t *testing.T) {
	b := newBackoff(10*time.Millisecond, 35*time.Millisecond)
	if b.C() != nil {
		t.Fatal("a stopped backoff has a channel")
	}
	b.start()
	var got []time.Duration
	for range 4 {
		<-b.C()
		got = append(got, b.delay)
		b.next()
	}
	b.stop()
	want := []time.Duration{10, 20, 35, 35}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
}
