package agent

import (
	"fmt"
	"sort"
	"sync"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/agent/metrics"
	"github.com/axon-dev/axon/policy/table"
)

// telemetryReasons are the datapath's reasons that count lost events, not
// requests or packets: they are reported apart from axon_drops_total.
var telemetryReasons = map[string]bool{
	datapath.ReasonEventLost.String():    true,
	datapath.ReasonEventLimited.String(): true,
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
	read   func() (datapath.Counters, error)
	mu     sync.Mutex
	table  *table.Table
	offset map[datapath.RuleVerdict]uint64 // raw values when table became current
	base   map[labelKey]uint64
	reason map[string]uint64 // raw reason counts when the agent started
}

func newCounterState(read func() (datapath.Counters, error)) *counterState {
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
	c.offset, c.reason = raw.Rules, raw.Reasons
	return nil
}

// switchTable folds the current table's counts into the base and makes t
// current. Call it right after t is written into the maps.
func (c *counterState) switchTable(t *table.Table) error {
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

func labelsOf(t *table.Table, rv datapath.RuleVerdict) labelKey {
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

func decisionName(v datapath.Verdict) string {
	switch v {
	case datapath.VerdictAllow:
		return metrics.DecisionAllow
	case datapath.VerdictDeny:
		return metrics.DecisionDeny
	case datapath.VerdictAuditDeny:
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
			if rv.Verdict < datapath.VerdictAllow || rv.Verdict > datapath.VerdictAuditDeny {
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
// plus reason "policy" for requests a rule or default denied. Lost events
// are not drops: TelemetryLost reports them.
func (c *counterState) Drops() ([]metrics.Drop, error) {
	raw, err := c.read()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []metrics.Drop
	for r, v := range raw.Reasons {
		if telemetryReasons[r] {
			continue
		}
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
		if rv.Rule != 0 && rv.Verdict == datapath.VerdictDeny && v >= c.offset[rv] {
			policy += v - c.offset[rv]
		}
	}
	out = append(out, metrics.Drop{Reason: "policy", Count: policy})
	sort.Slice(out, func(i, j int) bool { return out[i].Reason < out[j].Reason })
	return out, nil
}

// TelemetryLost implements metrics.Source: events not sent since the agent
// started, because the ring buffer was full or by the rate limit.
func (c *counterState) TelemetryLost() (metrics.Lost, error) {
	raw, err := c.read()
	if err != nil {
		return metrics.Lost{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	since := func(r datapath.Reason) uint64 {
		v, v0 := raw.Reasons[r.String()], c.reason[r.String()]
		if v < v0 {
			return v // the maps were recreated
		}
		return v - v0
	}
	return metrics.Lost{RingFull: since(datapath.ReasonEventLost), RateLimited: since(datapath.ReasonEventLimited)}, nil
}
