package evasion

import (
	"fmt"
	"testing"
	"time"
)

// TestRedteamSynRecordPlantedTFO (rule 2, red team rt36, open for one
// session): a SYN-ACK starts a flow in step only if it answers the
// data-less SYN the program last let through for that 4-tuple (syns: ISN,
// device; ack == ISN + 1). The record says nothing about whether the server
// took that SYN, and it outlives the policy window: the syns LRU is not
// forgotten when an endpoint stops (and starts again) being policed. A
// fast-open SYN with ISN' and len bytes of data is answered with ack = ISN'
// + 1 + len, so a data-less SYN with ISN = ISN' + len, sent beforehand with
// a bad TCP checksum (recorded by the program, dropped by the server), made
// the later SYN-ACK "answer" it. Closed by rule 3: the program looks up the
// server's socket of the SYN-ACK in the pod's namespace, and a socket that
// has received bytes already (the fast-open data) makes the flow refused
// (bpf/include/server_sock.h).
//
// Steps (fast open on in the server's namespace, as rt35; a real cookie
// fetched while Enforce):
//
//	Enforce: SYN (no data, bad checksum) seq = ISN + len(head)
//	    recorded in syns; the server drops it
//	policy file removed (the endpoint is not policed)
//	SYN seq = ISN + cookie + head "GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\nX-Pad: p"
//	    the server takes the data: SYN-ACK ack = ISN + 1 + len(head)
//	policy file written again (Enforce)
//	the server's SYN-ACK retransmission: ack == record.isn + 1, same device:
//	    a flow in step (unparsed = 0), base = ISN + 1 + len(head); but the
//	    server's socket has bytes_received = len(head): refused
//	ACK + "\r\n\r\n": empty lines for the datapath; before rule 3 the
//	    server ended the head and ran GET /api/admin/<tok> (Go, nginx,
//	    Python)
//
// Control: a second connection per server doing the same without the
// planted SYN (as TestRedteamUnpolicedSynRecvTFO): refused once the policy
// is back; and the raw allowed/denied controls.
func TestRedteamSynRecordPlantedTFO(t *testing.T) {
	t.Parallel()
	synRecordPlantedTFO(t, 1, "badsum")
}

// TestRedteamSynRecordPlantedTFOSynFin is TestRedteamSynRecordPlantedTFO
// with the planted SYN a data-less SYN|FIN, good checksum: recorded by
// ax_stream, dropped by the server's listener (tcp_rcv_state_process:
// LISTEN discards SYN with FIN).
func TestRedteamSynRecordPlantedTFOSynFin(t *testing.T) {
	t.Parallel()
	synRecordPlantedTFO(t, 3, "synfin")
}

// TestRedteamSynRecordPlantedTFOClosed is TestRedteamSynRecordPlantedTFO
// with an ordinary plant: a real data-less SYN at ISN + len(head), answered
// by the server, then RST|ACK at its ISN + 1 (the server drops its request,
// ax_stream deletes the flow). The syns record outlives the connection.
func TestRedteamSynRecordPlantedTFOClosed(t *testing.T) {
	t.Parallel()
	synRecordPlantedTFO(t, 4, "closed")
}

func synRecordPlantedTFO(t *testing.T, n int, plant string) {
	tp := newTopoIn(t, "10.76", "fd76", n)
	srvs, a, tfoOpt := fastOpenTopo(t, tp, "Enforce")
	gen := 1

	type conn struct {
		f      *Flow
		tok    string
		h      []byte
		nextSA func(time.Duration) (synAck, bool)
		done   func()
		// The control: the same without the planted SYN.
		cf    *Flow
		ctok  string
		ch    []byte
		cnext func(time.Duration) (synAck, bool)
		cdone func()
	}
	cs := map[string]*conn{}
	for _, s := range srvs {
		tok := token("synrec" + plant)
		f := tp.rawFlow(s.Port(), false)
		h := []byte("GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p")
		next, done := synAckWatch(t, tp, f)
		// The planted record: what the fast-open SYN-ACK will acknowledge.
		pisn := f.ISN + uint32(len(h))
		switch plant {
		case "badsum":
			must(t, f.Send(Segment{Seq: pisn, Flags: SYN, Options: MSSOption(1400), BadChecksum: true}))
		case "synfin":
			must(t, f.Send(Segment{Seq: pisn, Flags: SYN | FIN, Options: MSSOption(1400)}))
		case "closed":
			must(t, f.Send(Segment{Seq: pisn, Flags: SYN, Options: MSSOption(1400)}))
			sa, ok := next(time.Second)
			sq, ack := sa.seq, sa.ack
			if !ok || ack != pisn+1 {
				done()
				t.Fatalf("%s: no SYN-ACK for the planted SYN (ok %v)", s.Name(), ok)
			}
			must(t, f.Send(Segment{Seq: pisn + 1, Ack: sq + 1, Flags: RST | ACK}))
		}
		if plant != "closed" {
			if _, ok := next(300 * time.Millisecond); ok {
				done()
				t.Fatalf("%s: the server answered the planted %s SYN", s.Name(), plant)
			}
		} else if _, ok := next(1500 * time.Millisecond); ok {
			done()
			t.Fatalf("%s: the server still resends the planted SYN's SYN-ACK after the RST", s.Name())
		}
		ctok := token("synrecctl")
		cfl := tp.rawFlow(s.Port(), false)
		cnext, cdone := synAckWatch(t, tp, cfl)
		cs[s.Name()] = &conn{f: f, tok: tok, h: h, nextSA: next, done: done,
			cf: cfl, ctok: ctok, ch: []byte("GET /api/admin/" + ctok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p"), cnext: cnext, cdone: cdone}
	}

	restore := unpolice(t, tp, a, &gen)

	for _, s := range srvs {
		c := cs[s.Name()]
		must(t, c.f.Send(Segment{Seq: c.f.ISN, Flags: SYN, Options: tfoOpt, Payload: c.h}))
		sa, ok := c.nextSA(3 * time.Second)
		ack := sa.ack
		if !ok || ack != c.f.ISN+1+uint32(len(c.h)) {
			t.Fatalf("%s: no SYN-ACK taking the SYN data (ok %v, ack %d, ISN %d, %d bytes)", s.Name(), ok, ack, c.f.ISN, len(c.h))
		}
		must(t, c.cf.Send(Segment{Seq: c.cf.ISN, Flags: SYN, Options: tfoOpt, Payload: c.ch}))
		if sa, ok := c.cnext(3 * time.Second); !ok || sa.ack != c.cf.ISN+1+uint32(len(c.ch)) {
			t.Fatalf("%s control: no SYN-ACK taking the SYN data (ok %v, ack %d)", s.Name(), ok, sa.ack)
		}
	}
	time.Sleep(200 * time.Millisecond)
	restore()

	forServers(t, srvs, func(t *testing.T, s server) {
		c := cs[s.Name()]
		defer c.done()
		defer c.cdone()
		cresp, crst := endHeldHead(t, c.cf, c.cnext)
		t.Logf("%s control (no planted SYN): %s", s.Name(), describe(cresp, crst))
		if ranOn(s, c.ctok) {
			t.Fatalf("control: without the planted SYN the head ran on %s too (%s): rule 2 does not hold here at all", s.Name(), describe(cresp, crst))
		}
		resp, rst := endHeldHead(t, c.f, c.nextSA)
		t.Logf("%s attack: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(a))
		expectNeverRun(t, s, c.tok, fmt.Sprintf("GET /api/admin/%s, fast-open SYN data taken while the endpoint was not policed, its SYN-ACK matching a %s SYN recorded before (%s)", c.tok, plant, describe(resp, rst)))
	})
}
