package agent

import (
	"net/netip"
	"time"

	"github.com/axon-dev/axon/agent/observe"
	"github.com/axon-dev/axon/agent/stream"
	"github.com/axon-dev/axon/policy/compiler"
)

// Stream returns the hub behind GET /v1/events.
func (a *Agent) Stream() *stream.Hub { return a.hub }

func modeName(m compiler.Mode) string {
	if m == compiler.ModeAudit {
		return "Audit"
	}
	return "Enforce"
}

// peer describes an address with the pod behind it, if known.
func (a *Agent) peer(ap netip.AddrPort) *stream.Peer {
	p := &stream.Peer{IP: ap.Addr().String(), Port: ap.Port()}
	if pod, ok := a.pods.Load().Pod(ap.Addr()); ok {
		p.Namespace, p.Pod, p.Workload = pod.Namespace, pod.Name, pod.Workload
	}
	return p
}

// publishDecision sends a datapath event to the stream's subscribers.
func (a *Agent) publishDecision(e Event, at time.Time) {
	if !a.hub.Active() {
		return
	}
	se := stream.Event{Time: at, Type: stream.TypeDecision, Verdict: decisionName(e.Verdict),
		Source: a.peer(e.Src), Destination: a.peer(e.Dst), Method: e.Method, Path: e.Path, Reason: e.Reason}
	if t := a.Table(); t != nil {
		k := labelsOf(t, RuleVerdict{Rule: e.Rule, Verdict: e.Verdict})
		se.Namespace, se.Policy, se.Rule = k.namespace, k.policy, k.rule
		if e.Rule >= 1 && int(e.Rule) <= len(t.Rules) {
			se.Mode = modeName(t.Rules[e.Rule-1].Mode)
		}
	}
	a.hub.Publish(se)
}

// PublishExchange sends a request the HTTP observer saw on the monitored
// workload w to the stream's subscribers. It does not block.
func (a *Agent) PublishExchange(w observe.Workload, x observe.Exchange) {
	if !a.hub.Active() {
		return
	}
	local, peer := a.peer(x.Local), a.peer(x.Peer)
	local.Namespace, local.Workload = w.Namespace, w.Name
	src, dst := peer, local
	if x.Side == observe.Client {
		src, dst = local, peer
	}
	a.hub.Publish(stream.Event{Time: time.Now(), Type: stream.TypeRequest, Source: src, Destination: dst,
		Method: x.Method, Path: x.Path, Status: x.Status, LatencyMs: float64(x.Duration.Microseconds()) / 1000,
		Side: x.Side.String()})
}
