package agent

import (
	"testing"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/agent/metrics"
	"github.com/axon-dev/axon/policy/table"
)

// rawCounters is a stand-in for the BPF counter maps: tests bump it as the
// TC program would.
type rawCounters struct{ c datapath.Counters }

func (r *rawCounters) read() (datapath.Counters, error) {
	out := datapath.Counters{Rules: map[datapath.RuleVerdict]uint64{}, Reasons: map[string]uint64{}}
	for k, v := range r.c.Rules {
		out.Rules[k] = v
	}
	for k, v := range r.c.Reasons {
		out.Reasons[k] = v
	}
	return out, nil
}

func count(t *testing.T, c *counterState, policy, rule, decision string) uint64 {
	t.Helper()
	ds, err := c.Decisions()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Policy == policy && d.Rule == rule && d.Decision == decision {
			return d.Count
		}
	}
	return 0
}

func TestCountersFollowRulesAcrossRenumbering(t *testing.T) {
	raw := &rawCounters{c: datapath.Counters{
		// An earlier agent's counts in pinned maps: not this process's.
		Rules:   map[datapath.RuleVerdict]uint64{{Rule: 1, Verdict: datapath.VerdictAllow}: 100},
		Reasons: map[string]uint64{"not_http": 4},
	}}
	c := newCounterState(raw.read)
	if err := c.prime(); err != nil {
		t.Fatal(err)
	}
	t1 := &table.Table{Rules: []table.Rule{
		{ID: 1, Namespace: "shop", Policy: "b", Index: 0},
		{ID: 2, Namespace: "shop", Policy: "b", Index: -1},
	}}
	if err := c.switchTable(t1); err != nil {
		t.Fatal(err)
	}
	raw.c.Rules[datapath.RuleVerdict{Rule: 1, Verdict: datapath.VerdictAllow}] += 3
	raw.c.Rules[datapath.RuleVerdict{Rule: 2, Verdict: datapath.VerdictDeny}] += 2
	raw.c.Reasons["not_http"] += 1
	if got := count(t, c, "b", "0", metrics.DecisionAllow); got != 3 {
		t.Errorf("b rule 0 allow = %d, want 3 (counts before the agent started excluded)", got)
	}
	if got := count(t, c, "b", "default", metrics.DecisionDeny); got != 2 {
		t.Errorf("b default deny = %d, want 2", got)
	}

	// A new policy "a" sorts first: b's rules are renumbered to 2 and 3.
	t2 := &table.Table{Rules: []table.Rule{
		{ID: 1, Namespace: "shop", Policy: "a", Index: 0},
		{ID: 2, Namespace: "shop", Policy: "b", Index: 0},
		{ID: 3, Namespace: "shop", Policy: "b", Index: -1},
	}}
	if err := c.switchTable(t2); err != nil {
		t.Fatal(err)
	}
	raw.c.Rules[datapath.RuleVerdict{Rule: 1, Verdict: datapath.VerdictAllow}] += 5 // now policy a
	raw.c.Rules[datapath.RuleVerdict{Rule: 2, Verdict: datapath.VerdictAllow}] += 1 // b rule 0
	raw.c.Rules[datapath.RuleVerdict{Rule: 3, Verdict: datapath.VerdictDeny}] += 1  // b default
	if got := count(t, c, "b", "0", metrics.DecisionAllow); got != 4 {
		t.Errorf("b rule 0 allow = %d after renumbering, want 3+1", got)
	}
	if got := count(t, c, "a", "0", metrics.DecisionAllow); got != 5 {
		t.Errorf("a rule 0 allow = %d, want 5", got)
	}
	if got := count(t, c, "b", "default", metrics.DecisionDeny); got != 3 {
		t.Errorf("b default deny = %d, want 2+1", got)
	}
	drops, _ := c.Drops()
	want := map[string]uint64{"not_http": 1, "policy": 3}
	for _, d := range drops {
		if w, ok := want[d.Reason]; ok && d.Count != w {
			t.Errorf("drops %s = %d, want %d", d.Reason, d.Count, w)
		}
		delete(want, d.Reason)
	}
	if len(want) != 0 {
		t.Errorf("missing drop reasons %v", want)
	}
}

// Lost events are telemetry, not traffic: they stay out of axon_drops_total.
func TestLostEventsAreNotDrops(t *testing.T) {
	lost, limited := datapath.ReasonEventLost.String(), datapath.ReasonEventLimited.String()
	raw := &rawCounters{c: datapath.Counters{
		Rules:   map[datapath.RuleVerdict]uint64{},
		Reasons: map[string]uint64{lost: 10, limited: 1},
	}}
	c := newCounterState(raw.read)
	if err := c.prime(); err != nil {
		t.Fatal(err)
	}
	raw.c.Reasons[lost] += 4
	raw.c.Reasons[limited] += 2
	raw.c.Reasons["ip_fragment"] = 1
	drops, err := c.Drops()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, d := range drops {
		got[d.Reason] = d.Count
	}
	if _, ok := got[lost]; ok {
		t.Errorf("drops include %s: %v", lost, got)
	}
	if _, ok := got[limited]; ok {
		t.Errorf("drops include %s: %v", limited, got)
	}
	if got["ip_fragment"] != 1 {
		t.Errorf("drops ip_fragment = %d, want 1", got["ip_fragment"])
	}
	l, err := c.TelemetryLost()
	if err != nil {
		t.Fatal(err)
	}
	if l.RingFull != 4 || l.RateLimited != 2 {
		t.Errorf("lost = %+v, want ring full 4 and rate limited 2 since the agent started", l)
	}
}
