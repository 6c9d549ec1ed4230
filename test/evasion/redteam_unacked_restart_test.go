package evasion

import (
	"testing"
	"time"
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
	conns := openRawConns(t, tp, srvs, "unacked")
	for _, c := range conns {
		_, allowed := twins(c.tok)
		must(t, c.f.Send(Segment{Seq: c.f.ISN + 1, Ack: c.f.SrvISN + 1, Flags: ACK | PSH, Payload: allowed[:len(allowed)-2], BadChecksum: true}))
	}
	time.Sleep(100 * time.Millisecond)
	a.Kill()
	remove := passAhead(t, "tcx", tp.srv.Port)
	sendDeniedHead(t, conns)
	remove()
	restartOn(t, tp, a.PinDir, "tcx")
	expectHeldNeverRun(t, tp, srvs, conns, func(c rawConn) {
		denied, _ := twins(c.tok)
		must(t, c.f.Data(c.f.ISN+1+uint32(len(denied)-2), []byte("\r\n")))
	}, "sent unseen over an allowed copy the server dropped")
}
