package evasion

import (
	"testing"

	"github.com/axon-dev/axon/test/agentproc"
)

// TestRedteamRT43StaleFlowAcrossOtherPinDirAgent (rt43): InPlace, which
// decides whether a restarted agent keeps an interface's flows, takes any
// cls_bpf filter at Axon's priority and handle for "the earlier agent's
// attachment under the same pin directory": it never checks the filter's
// name (axon:<pin dir>) or that its program uses this pin directory's
// maps. An agent run meanwhile with another pin directory replaces the
// filter (same priority and handle) with programs that keep their own flow
// table; this pin directory's flows are frozen while they run.
//
// Agent A (pin dir P1, clsact, Enforce) sees a connection open: its flow
// is in P1. A is killed; agent B runs with pin dir P2 while the endpoint is
// Audit-only (a roll-out with another pin directory, say, and an Audit
// trial): B has no flow of the connection, so its data passes (Audit never
// breaks traffic): the head of a denied request, left open, reaches the
// server. B is killed, the endpoint is enforced again and agent A' starts
// on P1. InPlace(P1) finds B's filter in place and first, so A' keeps P1's
// flow, which still says nothing was let through: an allowed request of the
// same length at its old next byte plus "\r\n" ends the denied head.
// (B's own audit-gap and flow records are in P2, which A' never reads.)
// Fixed: InPlace takes only a filter named after its own pin directory
// (and the server's socket would not vouch for the flow either).
func TestRedteamRT43StaleFlowAcrossOtherPinDirAgent(t *testing.T) {
	t.Parallel()
	tp := newTopo43(t, 3)
	srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", "clsact")
	conns := openRawConns(t, tp, srvs, "pindir")
	a.Kill()
	tp.policy("Audit", "")
	b := restartOn(t, tp, agentproc.PinDir(t, agentBin, "axon-rt43-other"), "clsact")
	sendDeniedHead(t, conns)
	b.Kill()
	tp.policy("Enforce", "")
	restartOn(t, tp, a.PinDir, "clsact")
	expectHeldNeverRun(t, tp, srvs, conns, sendAllowedTwin(t), "whose head passed under an agent of another pin directory")
}
