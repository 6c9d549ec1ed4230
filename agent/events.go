package agent

import (
	"context"
	"net/netip"
	"time"

	"github.com/axon-dev/axon/policy/compiler"
)

// Event is one deny or audit_deny decision the datapath reported.
type Event struct {
	Verdict  uint8 // VerdictDeny or VerdictAuditDeny
	Reason   string
	Rule     compiler.RuleID
	Src, Dst netip.AddrPort
	Method   string
	Path     string // the first bytes of the path
}

// EventSource is implemented by datapaths that report decisions on a ring
// buffer. RunEvents calls fn for each event until ctx ends.
type EventSource interface {
	RunEvents(ctx context.Context, fn func(Event)) error
}

// handleEvent counts an event and, when asked to, logs it with the rule it
// was decided by. Reading events keeps the ring buffer drained, so that
// axon_ringbuf_lost_events_total means real loss under load.
func (a *Agent) handleEvent(e Event) {
	dec := decisionName(e.Verdict)
	a.m.Events.WithLabelValues(dec).Inc()
	a.publishDecision(e, time.Now())
	if !a.cfg.LogDecisions {
		return
	}
	attrs := []any{"decision", dec, "reason", e.Reason, "src", e.Src.String(), "dst", e.Dst.String(),
		"method", e.Method, "path", e.Path}
	if t := a.Table(); t != nil {
		k := labelsOf(t, RuleVerdict{Rule: e.Rule, Verdict: e.Verdict})
		attrs = append(attrs, "namespace", k.namespace, "policy", k.policy, "rule", k.rule)
	}
	a.log.Info("decision", attrs...)
}
