package evasion

import (
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
)

// TestRedteamUnackedCopyAcrossRestart: the flow lets through an allowed
// head without its final "\r\n" in a segment the server drops (a bad TCP
// checksum): the flow has parsed it, the server holds nothing and never
// acknowledges it. While the agent runs, another copy of those positions is
// dropped until the server acknowledges them (rule 3). While no agent runs
// and a program ahead of Axon's lets everything through, the client sends a
// denied head of the same length at the same positions, and the server
// takes it: its count of bytes received equals what the flow let through.
// Once the new agent runs, the client sends "\r\n" at the flow's next byte:
// the flow ends the allowed head it parsed, the server the denied one it
// holds. A restarted agent keeps a flow only if the server acknowledged,
// through the reply program, every byte the flow let through.
func TestRedteamUnackedCopyAcrossRestart(t *testing.T) {
	t.Parallel()
	tp := newTopo43(t, 6)
	srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", "tcx")
	type held struct {
		f   *Flow
		tok string
	}
	conns := map[string]held{}
	for _, s := range srvs {
		tp.rawControl(t, s, false)
		tok := token("unacked")
		f := tp.connect(t, s.Port(), false, nil)
		_, allowed := twins(tok)
		must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: allowed[:len(allowed)-2], BadChecksum: true}))
		conns[s.Name()] = held{f, tok}
	}
	time.Sleep(100 * time.Millisecond)
	a.Kill()
	remove := passAhead(t, "tcx", tp.srv.Port)
	for _, s := range srvs {
		c := conns[s.Name()]
		denied, _ := twins(c.tok)
		must(t, c.f.Data(c.f.ISN+1, denied[:len(denied)-2]))
	}
	time.Sleep(200 * time.Millisecond)
	remove()
	b := agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: tp.dir, PinDir: a.PinDir, Ifaces: []string{tp.srv.Port}, Mode: "tcx"}, 20*time.Second)
	waitGeneration(t, b, 1, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		expectNewDeniedReset(t, tp, s, "after the restart")
		c := conns[s.Name()]
		denied, _ := twins(c.tok)
		must(t, c.f.Data(c.f.ISN+1+uint32(len(denied)-2), []byte("\r\n")))
		resp, rst := c.f.Response("\r\n\r\n", time.Second)
		expectNeverRun(t, s, c.tok, "GET /api/admin/"+c.tok+" sent unseen over an allowed copy the server dropped ("+describe(resp, rst)+")")
	})
}
