package agent

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/attach"
)

// An agent started with an interface dropped from its attach list removes
// the attachments an earlier agent left there, and says so as a warning and
// in axon_attachments_pruned_total: that interface is no longer enforced.
func TestPrunedAttachmentsWarnAndCount(t *testing.T) {
	needRoot(t)
	keep, drop := vethName(), vethName()
	addVeth(t, keep)
	addVeth(t, drop)
	pins := testPinDir(t)
	dp := newTestDatapath(t)
	earlier, err := attach.New(attach.Config{PinDir: pins})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := earlier.Attach([]string{keep, drop}, dp.Programs()); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	a := startAgent(t, Config{PinDir: pins, Interfaces: []string{keep},
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, dp, emptyLoader)
	waitFor(t, 5*time.Second, "the agent to be ready and prune", func() bool {
		return a.Ready() == nil && value(t, a, "axon_attachments_pruned_total", nil) >= 2
	})
	time.Sleep(200 * time.Millisecond) // more attach rounds must not count again
	if v := value(t, a, "axon_attachments_pruned_total", nil); v != 2 {
		t.Errorf("axon_attachments_pruned_total = %v, want 2 (both directions of %s)", v, drop)
	}
	var warned int
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "interface="+drop) {
			warned++
		}
	}
	if warned != 2 {
		t.Errorf("%d warnings name %s, want 2 (one per direction):\n%s", warned, drop, logs)
	}
}
