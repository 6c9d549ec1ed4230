package agent

import (
	"fmt"
	"sort"
	"sync"

	"github.com/axon-dev/axon/agent/metrics"
	"github.com/axon-dev/axon/policy/compiler"
)

// Verdicts as the datapath counts them.
const (
	VerdictAllow     uint8 = 1
	VerdictDeny      uint8 = 2
	VerdictAuditDeny uint8 = 3
)

// RuleVerdict keys the datapath's per-rule counters.
type RuleVerdict struct {
	Rule    compiler.RuleID
	Verdict uint8
}

// Counters are the datapath's cumulative counters since its maps were
// created (they survive agent restarts when the maps are pinned).
type Counters struct {
	Rules       map[RuleVerdict]uint64 // requests decided, by rule ID and verdict
	Reasons     map[string]uint64      // requests or packets by reason other than a rule
	RingbufLost uint64
}

type labelKey struct {
	namespace, policy, rule, decision string
}

// counterState turns raw per-rule-ID counters into per-(namespace, policy,
// rule) counters that stay monotonic across policy updates, although rule
// IDs are renumbered by every compile. Right after a new table is applied,
// what the old table's rules counted is folded into a base keyed by labels
// and the raw counters are taken as the new zero. Requests decided between
// the generation flip and that snapshot (microseconds) are attributed to the
// old table's rule with the same ID. The first table of a process starts
// from the raw values then: counts an earlier agent left in pinned maps are
// not this process's.
type counterState struct {
	read   func() (Counters, error)
	mu     sync.Mutex
	table  *compiler.Table
	offset map[RuleVerdict]uint64 // raw values when table became current
	base   map[labelKey]uint64
	reason map[string]uint64 // raw reason counts when the agent started
	lost0  uint64
}

func newCounterState(read func() (Counters, error)) *counterState {
	return &counterState{read: read, base: map[labelKey]uint64{}}
}

// prime takes the raw counters at agent start as zero: Prometheus counters
// restart with the process, and pinned maps may hold an earlier agent's.
func (c *counterState) prime() error {
	raw, err := c.read()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset, c.reason, c.lost0 = raw.Rules, raw.Reasons, raw.RingbufLost
	return nil
}

// switchTable folds the current table's counts into the base and makes t
// current. Call it right after t is written into the maps.
func (c *counterState) switchTable(t *compiler.Table) error {
	raw, err := c.read()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.table != nil {
		for rv, v := range raw.Rules {
			if d := v - c.offset[rv]; v >= c.offset[rv] && d > 0 {
				c.base[labelsOf(c.table, rv)] += d
			}
		}
	}
	c.table, c.offset = t, raw.Rules
	return nil
}

func labelsOf(t *compiler.Table, rv RuleVerdict) labelKey {
	k := labelKey{rule: "none", decision: decisionName(rv.Verdict)}
	if rv.Rule >= 1 && int(rv.Rule) <= len(t.Rules) {
		r := t.Rules[rv.Rule-1]
		k.namespace, k.policy = r.Namespace, r.Policy
		k.rule = "default"
		if r.Index >= 0 {
			k.rule = fmt.Sprint(r.Index)
		}
	}
	return k
}

func decisionName(v uint8) string {
	switch v {
	case VerdictAllow:
		return metrics.DecisionAllow
	case VerdictDeny:
		return metrics.DecisionDeny
	case VerdictAuditDeny:
		return metrics.DecisionAuditDeny
	}
	return fmt.Sprintf("verdict_%d", v)
}

// Decisions implements metrics.Source.
func (c *counterState) Decisions() ([]metrics.Decision, error) {
	raw, err := c.read()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := map[labelKey]uint64{}
	for k, v := range c.base {
		sum[k] = v
	}
	if c.table != nil {
		for rv, v := range raw.Rules {
			if rv.Verdict < VerdictAllow || rv.Verdict > VerdictAuditDeny {
				continue
			}
			if d := v - c.offset[rv]; v >= c.offset[rv] && d > 0 {
				sum[labelsOf(c.table, rv)] += d
			}
		}
	}
	out := make([]metrics.Decision, 0, len(sum))
	for k, v := range sum {
		out = append(out, metrics.Decision{Namespace: k.namespace, Policy: k.policy, Rule: k.rule, Decision: k.decision, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Decision < b.Decision
	})
	return out, nil
}

// Drops implements metrics.Source: reason counters since the agent started,
// plus reason "policy" for requests a rule or default denied.
func (c *counterState) Drops() ([]metrics.Drop, error) {
	raw, err := c.read()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []metrics.Drop
	for r, v := range raw.Reasons {
		if v0 := c.reason[r]; v >= v0 {
			out = append(out, metrics.Drop{Reason: r, Count: v - v0})
		}
	}
	var policy uint64
	for k, v := range c.base {
		if k.decision == metrics.DecisionDeny && k.rule != "none" {
			policy += v
		}
	}
	for rv, v := range raw.Rules {
		if rv.Rule != 0 && rv.Verdict == VerdictDeny && v >= c.offset[rv] {
			policy += v - c.offset[rv]
		}
	}
	out = append(out, metrics.Drop{Reason: "policy", Count: policy})
	sort.Slice(out, func(i, j int) bool { return out[i].Reason < out[j].Reason })
	return out, nil
}

// RingbufLost implements metrics.Source.
func (c *counterState) RingbufLost() (uint64, error) {
	raw, err := c.read()
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if raw.RingbufLost < c.lost0 {
		return raw.RingbufLost, nil
	}
	return raw.RingbufLost - c.lost0, nil
}
