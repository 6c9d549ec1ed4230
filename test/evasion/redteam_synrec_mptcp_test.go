package evasion

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"
)

// mptcpDSS is a DSS option: an 8-byte data sequence number mapping n bytes
// at subflow sequence ssn (relative to the subflow's ISN), no data ACK, no
// checksum.
func mptcpDSS(dsn uint64, ssn uint32, n uint16) []byte {
	o := []byte{30, 18, 0x20, 0x04 | 0x08}
	o = binary.BigEndian.AppendUint64(o, dsn)
	o = binary.BigEndian.AppendUint32(o, ssn)
	return binary.BigEndian.AppendUint16(o, n)
}

// TestRedteamSynRecordPlantedMPTCP (rule 2 + class 17, red team rt36): the
// program rewrites a SYN's MPTCP option into NOPs, so connections to a
// policed pod are plain TCP. A SYN the program never sees (sent while the
// endpoint is not policed) keeps MP_CAPABLE; its SYN-ACK retransmission
// after the policy is back "answers" a data-less SYN planted before at the
// same ISN (bad checksum: recorded, dropped by the server), so the flow is
// in step, and the connection is MPTCP at the server (Go listeners accept
// MPTCP by default). Data sequence mappings (DSS) then reorder what the
// application reads. Steps:
//
//	Enforce: SYN (no data, bad checksum) seq = ISN: recorded, dropped
//	policy file removed
//	SYN seq = ISN + MP_CAPABLE (v1, HMAC-SHA256): SYN-ACK with the server's key
//	policy file written again; the SYN-ACK retransmission: a flow in step
//	ACK + MP_CAPABLE(client key, server key): the server's MPTCP connection
//	S0 in order: "GET /api/v1/<x> HTTP/1.1\r\nHost: srv\r\n\r\n" (allowed,
//	    answered; it opens the connection-level window)
//	S1 next bytes,   DSN +len(S2): "GET /api/v1/x HTTP/1.1\r\nHost: srv\r\nX-A: "
//	S2 subflow after DSN 0:        "GET /api/admin/<tok> HTTP/1.1\r\nX-B: "
//	S3                             "\r\n\r\n"
//
// The datapath parses S1 S2 S3 (one allowed request with two headers); Go
// reads S2 S1 S3 and runs GET /api/admin/<tok>.
//
// Control: the same without the planted SYN: the flow is unparsed, S0 is
// refused (no_flow).
func TestRedteamSynRecordPlantedMPTCP(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.76", "fd76", 5)
	tp.policy("Enforce", "")
	srvs := tp.servers("go")
	s := srvs[0]
	a := tp.startAgent()
	gen := 1
	waitGeneration(t, a, gen, 10*time.Second)
	tp.rawControl(t, s, false)

	// Control: the same without the planted SYN: refused (no_flow).
	ctok, cresp, crst := mptcpAttempt(t, tp, a, s, false, &gen)
	t.Logf("control (no planted SYN): %s", describe(cresp, crst))
	if ranOn(s, ctok) || !crst {
		t.Fatalf("control: without the planted SYN the connection was not refused (%s): %q", describe(cresp, crst), s.Log())
	}
	tok, resp, rst := mptcpAttempt(t, tp, a, s, true, &gen)
	t.Logf("attack: %s; agent: %s; server log %q", describe(resp, rst), metricsSummary(a), s.Log())
	expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" reordered by MPTCP data sequence mappings on a connection whose MP_CAPABLE SYN passed unpoliced and whose SYN-ACK matched a planted record ("+describe(resp, rst)+")")
}

// mptcpAttempt runs the steps of TestRedteamSynRecordPlantedMPTCP (with
// the planted SYN or not) and returns the denied request's marker and what
// the client got.
func mptcpAttempt(t *testing.T, tp *topo, a *agent, s server, plant bool, gen *int) (string, string, bool) {
	f := tp.rawFlow(s.Port(), false)
	next, done := synAckWatch(t, tp, f)
	defer done()
	if plant {
		must(t, f.Send(Segment{Seq: f.ISN, Flags: SYN, Options: MSSOption(1400), BadChecksum: true}))
		time.Sleep(100 * time.Millisecond)
	}

	restore := unpolice(t, tp, a, gen)

	sa0, ok := synAckWithin(t, tp, f, append(MSSOption(1400), 30, 4, 0x01, 0x01), nil, 3*time.Second)
	o := sa0.opts
	if !ok || sa0.ack != f.ISN+1 {
		t.Fatalf("no SYN-ACK for the MP_CAPABLE SYN")
	}
	var skey []byte
	for i := 0; i+1 < len(o); {
		if o[i] == 0 {
			break
		}
		if o[i] == 1 {
			i++
			continue
		}
		if o[i] == 30 && o[i+1] == 12 {
			skey = append([]byte(nil), o[i+4:i+12]...)
		}
		i += int(o[i+1])
	}
	if skey == nil {
		t.Fatalf("the server did not accept MPTCP (SYN-ACK options %x)", o)
	}
	next(100 * time.Millisecond) // the copy synAckWithin read
	restore()
	sa, ok := next(10 * time.Second)
	sq, ack := sa.seq, sa.ack
	if !ok || ack != f.ISN+1 {
		t.Fatalf("no SYN-ACK retransmission after the policy came back")
	}
	f.SrvISN, f.srvNext = sq, sq+1
	t.Logf("SYN-ACK retransmission at %s", time.Now().Format("15:04:05.000"))

	ckey := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	h := sha256.Sum256(ckey)
	idsn := binary.BigEndian.Uint64(h[24:])
	mpc := append(append([]byte{30, 20, 0x01, 0x01}, ckey...), skey...)
	must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: sq + 1, Flags: ACK, Options: mpc}))
	time.Sleep(50 * time.Millisecond)

	tok := token("synrecmp")
	// S0: an allowed request, in order; the server's answer (with its
	// data ACK and window) opens the connection-level receive window.
	s0 := []byte("GET /api/v1/" + token("synrecmp0") + " HTTP/1.1\r\nHost: srv\r\n\r\n")
	s1 := []byte("GET /api/v1/x HTTP/1.1\r\nHost: srv\r\nX-A: ")
	s2 := []byte("GET /api/admin/" + tok + " HTTP/1.1\r\nX-B: ")
	s3 := []byte("\r\n\r\n")
	must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: sq + 1, Flags: ACK | PSH, Options: mptcpDSS(idsn+1, 1, uint16(len(s0))), Payload: s0}))
	r0, rst0 := f.Response("\r\n\r\n", 2*time.Second)
	t.Logf("plant=%v S0 (allowed, in order): %s", plant, describe(r0, rst0))
	off := uint32(len(s0))
	must(t, f.Send(Segment{Seq: f.ISN + 1 + off, Ack: f.srvNext, Flags: ACK | PSH, Options: mptcpDSS(idsn+1+uint64(off)+uint64(len(s2)), 1+off, uint16(len(s1))), Payload: s1}))
	time.Sleep(50 * time.Millisecond)
	must(t, f.Send(Segment{Seq: f.ISN + 1 + off + uint32(len(s1)), Ack: f.srvNext, Flags: ACK | PSH, Options: mptcpDSS(idsn+1+uint64(off), 1+off+uint32(len(s1)), uint16(len(s2))), Payload: s2}))
	time.Sleep(50 * time.Millisecond)
	off += uint32(len(s1) + len(s2))
	must(t, f.Send(Segment{Seq: f.ISN + 1 + off, Ack: f.srvNext, Flags: ACK | PSH, Options: mptcpDSS(idsn+1+uint64(off), 1+off, uint16(len(s3))), Payload: s3}))
	resp, rst := f.Response("\r\n\r\n", 2*time.Second)
	return tok, resp, rst
}
