package evasion

import (
	"strings"
	"testing"
	"time"
)

// TestRedteamAuditUnparsedCopyAcrossEnforce (class 34, red team rt33): on
// an Audit-only endpoint, a frame the datapath must not parse (rule 1: here
// IPv4 fragments, or two VLAN priority tags, which the server's stack
// strips) passes without being parsed into any flow. Before the fix the
// flow kept parsing as if the server held what the datapath parsed; now
// the frame is an audit gap (bpf/include/audit_gap.h) and the flows of that
// endpoint open then are refused once it is enforced.
//
// Bytes (one connection, from the attacker's raw socket, CAP_NET_RAW),
// while the endpoint is Audit-only:
//
//	A  = "GET /api/v1/aaa...a HTTP/1.1\r\nHost: srv\r\n\r\n"       (n bytes, a whole allowed request)
//	     at the connection's first byte, with a bad TCP checksum: the
//	     datapath parses it (the request is whole, the flow is at a request
//	     boundary, next byte = first + n); the server's stack drops it.
//	A' = "GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\nX-Pad: ppp" (n bytes, a denied head, open)
//	     at the same first byte, as IPv4 fragments (or a priority-tagged
//	     frame) with a good checksum: the datapath lets them through
//	     without looking at the flow (counted ip_fragment / vlan_tagged);
//	     the server reassembles them and holds the open head. Its ACK (first + n)
//	     is the flow's next byte: no desync.
//
// Then the endpoint is switched to Enforce (the same policy, mode Enforce)
// and the attacker sends, at first + n, "\r\n\r\n": for the datapath,
// empty lines before a request (passed); for the server, the end of the
// X-Pad line and of the head: it ran GET /api/admin/<tok>, which the
// enforced policy denies. Now the flow is refused (no_flow, a reset).
//
// Control, per server and method: the same unparsed frames alone on
// another connection (no bad-checksum copy before them): the server's ACK
// is beyond the flow's next byte (sequence_desync) and the "\r\n\r\n"
// after the switch is dropped (flow_reset); that request never runs. The
// bad-checksum copy A never runs either (the server dropped it).
func TestRedteamAuditUnparsedCopyAcrossEnforce(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.79", "fd79", 4)
	srvs, a := policedTopo(t, tp, "Audit")
	gen := 1
	type held struct {
		f       *Flow
		n       int
		tok, ok string
		ctl     *Flow // control: the fragments alone, no bad-checksum copy
		ctlTok  string
	}
	// unparsed sends payload at the flow's first byte in frames the
	// datapath must not parse (rule 1).
	methods := []struct {
		name     string
		unparsed func(f *Flow, payload []byte, id uint16)
	}{
		{"ipv4-fragments", func(f *Flow, payload []byte, id uint16) { sendFragments4(t, f, payload, id) }},
		{"vlan-priority-tags", func(f *Flow, payload []byte, _ uint16) {
			f.Tags = []VLAN{{Ether8021Q, 0}, {Ether8021Q, 0}}
			must(t, f.Data(f.ISN+1, payload))
			f.Tags = nil
		}},
	}
	hs := map[string]held{}
	for _, s := range srvs {
		for _, m := range methods {
			tp.rawControl(t, s, false)
			tok, okTok, A, Ap := gapHeads("fragaud")
			f := tp.connect(t, s.Port(), false, nil)
			sendDroppedCopy(t, f, A)
			m.unparsed(f, Ap, uint16(4000+len(hs)))
			// Control: the same open denied head in fragments on a second
			// connection, without the bad-checksum copy: the server's ACK is
			// beyond the flow's next byte (sequence_desync), nothing more
			// passes.
			ctlTok := token("fragctl")
			cp := strings.Replace(string(Ap), tok, ctlTok, 1)
			c := tp.connect(t, s.Port(), false, nil)
			m.unparsed(c, []byte(cp), uint16(5000+len(hs)))
			hs[s.Name()+"/"+m.name] = held{f, len(A), tok, okTok, c, ctlTok}
		}
	}
	time.Sleep(300 * time.Millisecond) // the servers acknowledge the held heads
	t.Logf("while Audit-only: %s", metricsSummary(a))
	tp.policy("Enforce", "")
	gen++
	waitGeneration(t, a, gen, 10*time.Second)
	afterEnforce := func(t *testing.T, s server, hd held) {
		c := hd.ctl
		must(t, c.Data(c.ISN+1+uint32(hd.n), []byte("\r\n\r\n")))
		cresp, crst := c.Response("\r\n\r\n", time.Second)
		t.Logf("%s control (the unparsed copy alone): %s", s.Name(), describe(cresp, crst))
		if logged(s, hd.ctlTok) {
			t.Fatalf("control: the unparsed copy alone already ran on %s: the harness, not the bad-checksum copy, makes the leak", s.Name())
		}
		f := hd.f
		must(t, f.Data(f.ISN+1+uint32(hd.n), []byte("\r\n\r\n")))
		resp, rst := f.Response("\r\n\r\n", time.Second)
		t.Logf("%s: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(a))
		if logged(s, hd.ok) {
			t.Errorf("the bad-checksum copy A ran on %s: the server did not drop it", s.Name())
		}
		expectNeverRun(t, s, hd.tok, "GET /api/admin/"+hd.tok+", its head sent in unparsed frames while Audit-only over bytes the datapath parsed from a bad-checksum copy, ended after the switch to Enforce ("+describe(resp, rst)+")")
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		expectNewDeniedReset(t, tp, s, "once enforced")
		for _, m := range methods {
			t.Run(m.name, func(t *testing.T) { afterEnforce(t, s, hs[s.Name()+"/"+m.name]) })
		}
	})
}
