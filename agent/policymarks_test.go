package agent

import (
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/audit"
	"github.com/axon-dev/axon/policy/compiler"
)

// TestPolicyMarks: a policy's mark moves only when its rules change, and
// SinceChange counts from there; other policies keep theirs.
func TestPolicyMarks(t *testing.T) {
	tab := func(action compiler.Action) *compiler.Table {
		return &compiler.Table{Rules: []compiler.Rule{
			{ID: 1, Namespace: "ns", Policy: "p", Index: 0, Action: action, Mode: compiler.ModeAudit, Origin: "p.yaml:9"},
			{ID: 2, Namespace: "ns", Policy: "q", Index: 0, Action: compiler.ActionDeny, Origin: "q.yaml:9"},
		}}
	}
	kp := audit.Key{Namespace: "ns", Policy: "p", Rule: "0", Decision: "audit_deny"}
	kq := audit.Key{Namespace: "ns", Policy: "q", Rule: "0", Decision: "deny"}
	t0 := time.Unix(100, 0)
	var m policyMarks
	m.update(tab(compiler.ActionDeny), nil, t0)
	m.update(tab(compiler.ActionDeny), []audit.Series{{Key: kp, Count: 5}}, t0.Add(time.Second)) // unchanged
	m.update(tab(compiler.ActionAllow), []audit.Series{{Key: kp, Count: 7}, {Key: kq, Count: 3}}, t0.Add(2*time.Second))
	pols := []audit.Policy{{Namespace: "ns", Name: "p"}, {Namespace: "ns", Name: "q"}}
	series := []audit.Series{{Key: kp, Count: 9}, {Key: kq, Count: 4}}
	m.apply(pols, series)
	if !pols[0].ChangedAt.Equal(t0.Add(2*time.Second)) || !pols[1].ChangedAt.Equal(t0) {
		t.Errorf("changed at %v, %v", pols[0].ChangedAt, pols[1].ChangedAt)
	}
	if series[0].SinceChange != 2 || series[1].SinceChange != 4 {
		t.Errorf("since change %d, %d; want 2, 4", series[0].SinceChange, series[1].SinceChange)
	}
}
