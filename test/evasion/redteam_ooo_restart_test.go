package evasion

import (
	"testing"
	"time"
)

// TestRedteamOutOfOrderAcrossRestart: a restarted agent keeps a flow when
// the server's socket has received no more of the client's stream than the
// flow let through (TestRedteamRT43StaleFlowAcrossProgramAheadWhileDown).
// The count is of bytes in order: data after a hole waits in the server's
// out-of-order queue, uncounted. While no agent runs and a program ahead of
// Axon's lets everything through, the client sends, past a hole of k bytes,
// the end of a header section and a denied request:
//
//	"z\r\n\r\nGET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\n\r\n"
//
// The socket's count is unchanged. Once the new agent runs, the client
// fills the hole with k bytes the flow parses as the start of an allowed
// request, "GET /api/v1/ok HTTP/1.1\r\nHost: srv\r\nX-Pad: ": the server
// joins the queued bytes to them and runs the denied request after the
// allowed one. The datapath never lets a segment through out of order to an
// enforced endpoint, so a socket that received one (tcpi_rcv_ooopack) does
// not vouch for its flow.
func TestRedteamOutOfOrderAcrossRestart(t *testing.T) {
	t.Parallel()
	tp := newTopo43(t, 5)
	srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", "tcx")
	prefix := []byte("GET /api/v1/ok HTTP/1.1\r\nHost: srv\r\nX-Pad: ")
	conns := openRawConns(t, tp, srvs, "ooo")
	a.Kill()
	remove := passAhead(t, "tcx", tp.srv.Port)
	for _, c := range conns {
		tail := []byte("z\r\n\r\nGET /api/admin/" + c.tok + " HTTP/1.1\r\nHost: srv\r\n\r\n")
		must(t, c.f.Data(c.f.ISN+1+uint32(len(prefix)), tail))
	}
	time.Sleep(200 * time.Millisecond)
	remove()
	restartOn(t, tp, a.PinDir, "tcx")
	expectHeldNeverRun(t, tp, srvs, conns, func(c rawConn) { must(t, c.f.Data(c.f.ISN+1, prefix)) }, "queued out of order while no agent ran")
}
