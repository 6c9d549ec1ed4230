package agent

import (
	"testing"
	"time"
)

// An interface missing at start and attached later has one axon_attached
// series per direction, labelled with the mode in use: no stale 0-valued
// series under the configured "auto" is left behind to fire alerts.
func TestAttachedSeriesFollowResolvedMode(t *testing.T) {
	needRoot(t)
	name := vethName()
	a := startAgent(t, Config{Interfaces: []string{name}}, newTestDatapath(t), emptyLoader)
	waitFor(t, 5*time.Second, "a failed attach to be reported", func() bool {
		return len(series(t, a, "axon_attached")) == 2
	})
	addVeth(t, name)
	waitFor(t, 10*time.Second, "the agent to be ready", func() bool { return a.Ready() == nil })
	got := series(t, a, "axon_attached")
	if len(got) != 2 {
		t.Fatalf("axon_attached has %d series, want 2 (one per direction): %v", len(got), got)
	}
	for _, s := range got {
		if s.labels["interface"] != name || s.labels["mode"] == "auto" || s.labels["mode"] == "" || s.value != 1 {
			t.Errorf("axon_attached series %v = %v, want interface %s, the resolved mode, value 1", s.labels, s.value, name)
		}
	}
}
