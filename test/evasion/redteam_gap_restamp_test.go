package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRedteamGapRestampedBySynAck (class 34, red team rt34): the SYN data
// of a fast-open connection is an audit gap (the server takes it), and a
// flow born more than 1 s after the gap is not refused. But born_ns is
// re-stamped by any SYN-ACK of the server once the flow has parsed
// something, and a fast-open server sits in SYN_RECV, holding the SYN's
// data, retransmitting its SYN-ACK (1 s, 3 s, ...) until the client's ACK.
//
// Steps (Go net/http with TCP_FASTOPEN, tcp_fastopen=3 in its namespace, as
// in TestRedteamFastOpenCookie; raw client with a real cookie fetched
// first), while the endpoint is Audit-only:
//
//	SYN + cookie + "GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\nX-Pad: p"
//	    syn_data, passed as an audit gap (t_g); the server takes it (its
//	    SYN-ACK acknowledges it) and Go reads the open head
//	no ACK; "\r\n" at the next byte with a bad TCP checksum
//	    parsed by the flow (empty line), dropped by the server
//	server's SYN-ACK retransmission (t_g + 1 s)
//	    the flow is replaced (something was parsed), born_ns = now
//	"\r\n" with a bad checksum again, SYN-ACK retransmission (t_g + 3 s)
//	    replaced again: born_ns > t_g + 1 s, the flow is no longer "open at
//	    the gap"
//
// Switch to Enforce, then ACK + "\r\n\r\n" at the next byte: the datapath
// sees empty lines (passed); the server ends the X-Pad line and the head
// and runs GET /api/admin/<tok>.
//
// Variant on a third connection: "\r\n" without the ACK flag instead of
// the bad checksum (the server drops it; Audit gives the flow up, state
// PASS, class 22): the SYN-ACK retransmission replaces the PASS flow too.
//
// Control: the same SYN data on a second connection without the
// bad-checksum "\r\n" (so no re-stamp): refused (no_flow) after Enforce.
//
// Closed at its first step: SYN data is dropped on Audit-only endpoints
// too (syn_data), so no server holds bytes before its flow's first one
// (the client's stack sends them again after the handshake). The test
// sends the SYN data and checks that the server never answered it, and
// never ran the head once a client ends it after the switch to Enforce. A
// SYN-ACK that replaces a flow also keeps the old flow's birth and what
// Audit gave up (agent/datapath TestSynAckKeepsAuditHistory).
func TestRedteamGapRestampedBySynAck(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.78", "fd78", 1)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=3")
	tp.policy("Audit", "")
	s := startGoTFO(t, tp.srv, goPort)
	restampAcrossEnforce(t, tp, []server{s})
}

// TestRedteamGapRestampedBySynAckAllListeners is the same attack on nginx
// and Python http.server, with fast open enabled for every listener of the
// server's namespace (net.ipv4.tcp_fastopen=0x403: server and client, no
// TCP_FASTOPEN needed on the listener), the servers' configurations as in
// the rest of the suite.
func TestRedteamGapRestampedBySynAckAllListeners(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.78", "fd78", 2)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.policy("Audit", "")
	restampAcrossEnforce(t, tp, tp.servers("nginx", "python"))
}

// restampAcrossEnforce runs the attack's first step on each server, the
// policy being Audit-only: fast-open SYN data with a real cookie, which
// must be dropped. Then, after the switch to Enforce, a connection sends
// the same head and its end: denied, it never runs.
func restampAcrossEnforce(t *testing.T, tp *topo, srvs []server) {
	a := tp.startAgent()
	waitGeneration(t, a, 1, 10*time.Second)
	for _, s := range srvs {
		tp.rawControl(t, s, false)
	}

	// A real cookie for the attacker's address (a SYN without data passes).
	tfoOpt := fastOpenOption(t, tp, srvs[0].Port())

	toks := map[string]string{}
	for _, s := range srvs {
		tok := token("gaprestamp")
		toks[s.Name()] = tok
		f := tp.rawFlow(s.Port(), false)
		h := []byte("GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p")
		if sa, ok := synAckWithin(t, tp, f, tfoOpt, h, 1500*time.Millisecond); ok {
			t.Errorf("%s answered fast-open SYN data on an Audit-only endpoint (SYN-ACK ack %d, ISN %d): the SYN came through", s.Name(), sa.ack, f.ISN)
		}
	}
	if !strings.Contains(metricsSummary(a), `reason="syn_data"`) {
		t.Errorf("no syn_data drop counted: %s", metricsSummary(a))
	}
	tp.policy("Enforce", "")
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		tok := toks[s.Name()]
		f := tp.connect(t, s.Port(), false, nil)
		must(t, f.Data(f.ISN+1, []byte("GET /api/admin/"+tok+" HTTP/1.1\r\nHost: srv\r\nX-Pad: p\r\n\r\n")))
		resp, rst := f.Response("\r\n\r\n", time.Second)
		expectNeverRun(t, s, tok, fmt.Sprintf("GET /api/admin/%s, sent in fast-open SYN data while Audit-only (%s)", tok, describe(resp, rst)))
	})
}
