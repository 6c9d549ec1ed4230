package evasion

import (
	"testing"
	"time"
)

// TestRedteamGapSynCookieDeletedFlow (class 34, red team rt35, held): the
// server answers every SYN with a cookie (net.ipv4.tcp_syncookies=2). The
// rt33 attack (an allowed request with a bad checksum, parsed; the denied
// open head over the same bytes in IPv4 fragments, an audit gap, taken),
// then a bad-checksum RST at the flow's next byte deletes the flow, and
// after more than the gap's slack the client sends its SYN again (same
// ISN) hoping for a fresh cookie SYN-ACK to start a flow with no history.
// The server's connection is established (the cookie's ACK made it): it
// answers the SYN with a challenge ACK, no SYN-ACK, so the connection has no
// flow and its "\r\n\r\n" after the switch to Enforce is refused (no_flow).
func TestRedteamGapSynCookieDeletedFlow(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.77", "fd77", 6)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_syncookies=2")
	tp.policy("Audit", "")
	srvs := tp.servers("go")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 10*time.Second)
	s := srvs[0]
	tp.rawControl(t, s, false)
	tok, _, A, Ap := gapHeads("cookiegap")
	f := tp.connect(t, s.Port(), false, nil)
	sendDroppedCopy(t, f, A)
	sendFragments4(t, f, Ap, 7100)
	time.Sleep(200 * time.Millisecond)
	end := f.ISN + 1 + uint32(len(A))
	must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: RST | ACK, BadChecksum: true}))
	time.Sleep(1300 * time.Millisecond)
	next, done := synAckWatch(t, tp, f)
	defer done()
	must(t, f.Send(Segment{Seq: f.ISN, Flags: SYN, Options: MSSOption(1400)}))
	sa, ok := next(1500 * time.Millisecond)
	sq, ack := sa.seq, sa.ack
	t.Logf("SYN again: SYN-ACK %v (seq %d ack %d, first SYN-ACK seq %d)", ok, sq, ack, f.SrvISN)
	tp.policy("Enforce", "")
	waitGeneration(t, a, 2, 10*time.Second)
	srvAck := f.SrvISN + 1
	if ok {
		srvAck = sq + 1
	}
	must(t, f.Send(Segment{Seq: end, Ack: srvAck, Flags: ACK | PSH, Payload: []byte("\r\n\r\n")}))
	resp, rst := f.Response("\r\n\r\n", time.Second)
	t.Logf("after Enforce: %s; agent: %s", describe(resp, rst), metricsSummary(a))
	expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" (syncookies, flow deleted after the gap, SYN sent again) ended after the switch to Enforce ("+describe(resp, rst)+")")
}
