package evasion

import (
	"testing"
	"time"

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
	type held struct {
		f       *Flow
		tok     string
		allowed []byte
	}
	conns := map[string]held{}
	for _, s := range srvs {
		tp.rawControl(t, s, false)
		tok := token("pindir")
		_, allowed := twins(tok)
		conns[s.Name()] = held{tp.connect(t, s.Port(), false, nil), tok, allowed}
	}
	a.Kill()
	tp.policy("Audit", "")
	p2 := agentproc.PinDir(t, agentBin, "axon-rt43-other")
	b := agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: tp.dir, PinDir: p2, Ifaces: []string{tp.srv.Port}, Mode: "clsact"}, 20*time.Second)
	waitGeneration(t, b, 1, 10*time.Second)
	for _, s := range srvs {
		c := conns[s.Name()]
		denied, _ := twins(c.tok)
		must(t, c.f.Data(c.f.ISN+1, denied[:len(denied)-2]))
	}
	time.Sleep(200 * time.Millisecond) // the server acknowledges the heads
	b.Kill()
	tp.policy("Enforce", "")
	a2 := agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: tp.dir, PinDir: a.PinDir, Ifaces: []string{tp.srv.Port}, Mode: "clsact"}, 20*time.Second)
	waitGeneration(t, a2, 1, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		expectNewDeniedReset(t, tp, s, "after the restart on P1")
		c := conns[s.Name()]
		must(t, c.f.Data(c.f.ISN+1, c.allowed))
		resp, rst := c.f.Response("\r\n\r\n", time.Second)
		expectNeverRun(t, s, c.tok, "GET /api/admin/"+c.tok+" whose head passed under an agent of another pin directory ("+describe(resp, rst)+")")
	})
}
