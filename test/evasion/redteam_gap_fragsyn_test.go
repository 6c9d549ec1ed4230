package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRedteamGapFragSynDeletedFlow (class 34, red team rt35): SYN data is
// dropped by ax_stream (syn_data), but a SYN in IPv4 fragments never
// reaches ax_stream: on an Audit-only endpoint it is a rule-1 frame, an
// audit gap (t_g), and passes. A fast-open server takes its data (the
// SYN-ACK acknowledges it), holds the open head, and sits in SYN_RECV
// resending its SYN-ACK (1 s, 3 s, 7 s, ...). The SYN-ACK starts a flow
// born just after t_g (so "open at the gap"), and a replacing SYN-ACK keeps
// that birth (384c3ae) — but only while the flow exists. A RST at exactly
// the flow's next byte deletes the flow in ax_stream; with a bad TCP
// checksum the server ignores it. The next SYN-ACK retransmission then
// starts a flow with no history: born at t_g + 1 s, then (deleted again)
// t_g + 3 s, later than the gap plus its slack, unparsed = 0.
//
// Steps (Go net/http with TCP_FASTOPEN, tcp_fastopen=3 in its namespace;
// raw client with a real cookie fetched first), while Audit-only:
//
//	SYN + MSS + cookie + "GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\nX-Pad: p"
//	    in IPv4 fragments of 24 bytes (ip_fragment, an audit gap)
//	SYN-ACK (ack = ISN+1+len): RST|ACK at seq = ISN+1+len, bad checksum
//	SYN-ACK retransmission (~1 s): the same RST again
//	SYN-ACK retransmission (~3 s): a fresh flow, left alone
//	ACK (no data): the connection is established and can wait as long as
//	    the attacker likes (only a later gap to the same address would
//	    count against its flow)
//
// Switch to Enforce, then ACK + "\r\n\r\n" at ISN+1+len: the datapath sees
// empty lines at the flow's first byte (passed); the server ends the X-Pad
// line and the head and runs GET /api/admin/<tok>.
//
// Control: the same fragmented SYN data on another connection without the
// bad-checksum RSTs: its flow keeps its birth across the retransmissions
// and the "\r\n\r\n" is refused (no_flow) after the switch.
func TestRedteamGapFragSynDeletedFlow(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.77", "fd77", 1)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=3")
	tp.policy("Audit", "")
	s := startGoTFO(t, tp.srv, goPort)
	fragSynAcrossEnforce(t, tp, []server{s}, false, false)
}

// TestRedteamGapTaggedSynDeletedFlow is TestRedteamGapFragSynDeletedFlow
// with the fast-open SYN in a frame with two VLAN priority tags (another
// rule-1 frame, which the server's stack strips) instead of fragments.
func TestRedteamGapTaggedSynDeletedFlow(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.77", "fd77", 5)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=3")
	tp.policy("Audit", "")
	s := startGoTFO(t, tp.srv, goPort)
	fragSynAcrossEnforce(t, tp, []server{s}, true, false)
}

// TestRedteamGapFragSynDeletedFlowAllListeners is the same attack on nginx
// and Python http.server, fast open enabled for every listener of the
// server's namespace (net.ipv4.tcp_fastopen=0x403), as in
// TestRedteamGapRestampedBySynAckAllListeners.
func TestRedteamGapFragSynDeletedFlowAllListeners(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.77", "fd77", 2)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.policy("Audit", "")
	fragSynAcrossEnforce(t, tp, tp.servers("nginx", "python"), false, false)
}

// fragSynAcrossEnforce runs the attack and its control on each server: the
// SYN in IPv4 fragments, or with two VLAN priority tags if tagged. With
// plant, the attack first plants a SYN record (rt36) and the control is
// the attack without it; else the control is the attack without the
// flow-deleting RSTs.
func fragSynAcrossEnforce(t *testing.T, tp *topo, srvs []server, tagged, plant bool) {
	a := tp.startAgent()
	waitGeneration(t, a, 1, 10*time.Second)
	for _, s := range srvs {
		tp.rawControl(t, s, false)
	}

	tfoOpt := fastOpenOption(t, tp, srvs[0].Port())

	type conn struct {
		f      *Flow
		tok    string
		next   uint32
		srvISN uint32
	}
	// Every fragmented SYN goes out first (the gaps are keyed by the
	// pod's address, shared by the servers' ports: a later gap would count
	// against an earlier attack flow), then each connection follows its
	// SYN-ACK retransmissions on its own.
	type started struct {
		c        *conn
		s        server
		deleting bool
		hlen     int
		next     func(time.Duration) (synAck, bool)
		done     func()
	}
	var all []started
	start := func(s server, deleting, planted bool, id uint16) *conn {
		tok := token("fragsyn")
		f := tp.rawFlow(s.Port(), false)
		h := []byte("GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p")
		next, done := synAckWatch(t, tp, f)
		if planted {
			// The planted record: a data-less SYN at ISN + len(head),
			// bad checksum (recorded by ax_stream, dropped by the
			// server). The fast-open SYN-ACK acknowledges ISN + 1 +
			// len(head): it "answers" this record.
			must(t, f.Send(Segment{Seq: f.ISN + uint32(len(h)), Flags: SYN, Options: MSSOption(1400), BadChecksum: true}))
			time.Sleep(20 * time.Millisecond)
		}
		seg := Segment{SrcPort: f.Local.Port(), DstPort: f.Remote.Port(), Seq: f.ISN, Flags: SYN, Options: tfoOpt, Payload: h}
		ih := IPv4{Src: f.Local.Addr(), Dst: f.Remote.Addr(), Proto: ProtoTCP, ID: id}
		if tagged {
			f.Tags = []VLAN{{Ether8021Q, 0}, {Ether8021Q, 0}}
			must(t, f.Send(seg))
			f.Tags = nil
		} else {
			for _, fr := range Fragments4(ih, seg.Marshal(f.Local.Addr(), f.Remote.Addr()), 24) {
				must(t, f.SendIP(fr))
			}
		}
		c := &conn{f: f, tok: tok}
		all = append(all, started{c, s, deleting, len(h), next, done})
		return c
	}
	ctls, atks := map[string]*conn{}, map[string]*conn{}
	for i, s := range srvs {
		ctls[s.Name()] = start(s, plant, false, uint16(7001+2*i))
		atks[s.Name()] = start(s, true, plant, uint16(7002+2*i))
	}
	errs := make(chan string, len(all))
	for _, st := range all {
		go func() {
			defer st.done()
			f, c := st.c.f, st.c
			for i := 0; i < 3; i++ {
				sa, ok := st.next(4 * time.Second)
				sq, ack := sa.seq, sa.ack
				if !ok {
					errs <- fmt.Sprintf("%s: SYN-ACK %d of the fragmented fast-open SYN never came", st.s.Name(), i)
					return
				}
				if ack != f.ISN+1+uint32(st.hlen) {
					errs <- fmt.Sprintf("%s: SYN-ACK %d acknowledges %d, not the SYN data (ISN %d, %d bytes): the server did not take it", st.s.Name(), i, ack, f.ISN, st.hlen)
					return
				}
				c.next, c.srvISN = ack, sq
				t.Logf("%s deleting=%v: SYN-ACK %d at %s", st.s.Name(), st.deleting, i, time.Now().Format("15:04:05.000"))
				if st.deleting && i < 2 {
					// At the flow's next byte: ax_stream deletes the
					// flow; the server drops it (checksum).
					if err := f.Send(Segment{Seq: ack, Ack: sq + 1, Flags: RST | ACK, BadChecksum: true}); err != nil {
						errs <- err.Error()
						return
					}
				}
			}
			// The handshake completed at once, while still Audit-only:
			// the connection is established and its fresh flow waits,
			// however long until the switch to Enforce.
			if err := f.Send(Segment{Seq: c.next, Ack: c.srvISN + 1, Flags: ACK}); err != nil {
				errs <- err.Error()
				return
			}
			errs <- ""
		}()
	}
	for range all {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
	time.Sleep(2 * time.Second) // parked: established, still Audit-only
	t.Logf("while Audit-only: %s", metricsSummary(a))
	for _, s := range srvs {
		if ranOn(s, atks[s.Name()].tok) || ranOn(s, ctls[s.Name()].tok) {
			t.Fatalf("%s: the open head already ran while Audit-only: harness", s.Name())
		}
	}
	tp.policy("Enforce", "")
	waitGeneration(t, a, 2, 10*time.Second)

	forServers(t, srvs, func(t *testing.T, s server) {
		c := ctls[s.Name()]
		must(t, c.f.Send(Segment{Seq: c.next, Ack: c.srvISN + 1, Flags: ACK | PSH, Payload: []byte("\r\n\r\n")}))
		cresp, crst := c.f.Response("\r\n\r\n", time.Second)
		t.Logf("%s control (plant %v): %s", s.Name(), plant, describe(cresp, crst))
		if ranOn(s, c.tok) {
			t.Fatalf("control: the head ran on %s (%s): %q", s.Name(), describe(cresp, crst), s.Log())
		}
		c = atks[s.Name()]
		must(t, c.f.Send(Segment{Seq: c.next, Ack: c.srvISN + 1, Flags: ACK | PSH, Payload: []byte("\r\n\r\n")}))
		resp, rst := c.f.Response("\r\n\r\n", time.Second)
		t.Logf("%s attack: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(a))
		expectNeverRun(t, s, c.tok, fmt.Sprintf("GET /api/admin/%s, sent in a fast-open SYN in rule-1 frames (tagged=%v, after a planted SYN record: %v) while Audit-only, its flow deleted by bad-checksum RSTs before SYN-ACK retransmissions, ended after the switch to Enforce (%s)", c.tok, tagged, plant, describe(resp, rst)))
		expectNewDeniedReset(t, tp, s, "once enforced")
	})
}

// ranOn says whether a log line of s with marker shows a request that ran
// (nginx's 400 for a head it held when the connection ended does not).
func ranOn(s server, marker string) bool {
	for _, l := range s.Log() {
		if strings.Contains(l, marker) && !(s.Name() == "nginx" && strings.HasSuffix(strings.TrimSpace(l), "\" 400")) {
			return true
		}
	}
	return false
}
