package evasion

import (
	"fmt"
	"testing"
	"time"
)

// TestRedteamSynRecordPlantedFragSyn (rule 2 + class 34, red team rt36):
// TestRedteamGapFragSynDeletedFlow (rt35) again on current main, with one
// more packet first: a data-less SYN, bad TCP checksum, at seq = ISN +
// len(head), which ax_stream records in syns (ISN + len, this device) and
// the server drops. The fast-open SYN in IPv4 fragments (an audit gap at
// t_g) is taken by the server; its SYN-ACK acknowledges ISN + 1 + len(head)
// == record + 1, so the flows it starts are "in step" (unparsed = 0). Bad-
// checksum RSTs at the flow's next byte delete the flow before the 1 s and
// 3 s retransmissions (as rt35), so the last one starts a flow born after
// t_g + 1 s, which no gap touches. ACK: established while Audit-only.
// Switch to Enforce, ACK + "\r\n\r\n" at ISN + 1 + len: the server ends
// the held head and runs GET /api/admin/<tok>.
//
// Control: rt35's attack as is on another connection (the same fragmented
// fast-open SYN and flow-deleting RSTs, no planted SYN): refused (no_flow)
// after the switch.
func TestRedteamSynRecordPlantedFragSyn(t *testing.T) {
	tp := newTopoIn(t, "10.76", "fd76", 2)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.policy("Audit", "")
	srvs := append([]server{startGoTFO(t, tp.srv, goPort)}, tp.servers("nginx", "python")...)
	fragSynPlantedAcrossEnforce(t, tp, srvs, false)
}

func fragSynPlantedAcrossEnforce(t *testing.T, tp *topo, srvs []server, tagged bool) {
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
	start := func(s server, deleting, plant bool, id uint16) *conn {
		tok := token("synrecfrag")
		f := tp.rawFlow(s.Port(), false)
		h := []byte("GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p")
		next, done := synAckWatch(t, tp, f)
		if plant {
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
		ctls[s.Name()] = start(s, true, false, uint16(7001+2*i))
		atks[s.Name()] = start(s, true, true, uint16(7002+2*i))
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
		t.Logf("%s control (the same RSTs, no planted SYN): %s", s.Name(), describe(cresp, crst))
		if ranOn(s, c.tok) {
			t.Fatalf("control: the head without the planted SYN ran (rt35 attack not closed) on %s (%s): %q", s.Name(), describe(cresp, crst), s.Log())
		}
		c = atks[s.Name()]
		must(t, c.f.Send(Segment{Seq: c.next, Ack: c.srvISN + 1, Flags: ACK | PSH, Payload: []byte("\r\n\r\n")}))
		resp, rst := c.f.Response("\r\n\r\n", time.Second)
		t.Logf("%s attack: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(a))
		expectNeverRun(t, s, c.tok, fmt.Sprintf("GET /api/admin/%s, sent in a fast-open SYN in rule-1 frames (tagged=%v) while Audit-only after a planted bad-checksum data-less SYN at ISN+len, its flow deleted by bad-checksum RSTs before SYN-ACK retransmissions, ended after the switch to Enforce (%s)", c.tok, tagged, describe(resp, rst)))
		expectNewDeniedReset(t, tp, s, "once enforced")
	})
}
