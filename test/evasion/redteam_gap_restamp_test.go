package evasion

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// synAckOptions sends f's SYN with opts and returns the TCP options of the
// server's SYN-ACK (read on a packet socket of its own in the client's
// namespace: the Link hands out no options), and the SYN-ACK's sequence
// and acknowledgement numbers.
func synAckOptions(t *testing.T, tp *topo, f *Flow, opts, payload []byte) (o []byte, seq, ack uint32) {
	t.Helper()
	var fd int
	must(t, tp.cli.Do(func() error {
		ifi, err := net.InterfaceByName(tp.cli.Iface)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 50_000}
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}))
	defer unix.Close(fd)
	must(t, f.Send(Segment{Seq: f.ISN, Flags: SYN, Options: opts, Payload: payload}))
	buf := make([]byte, 65536)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || n < 14+20+20 {
			continue
		}
		fr := buf[:n]
		if binary.BigEndian.Uint16(fr[12:]) != EtherIPv4 || fr[14+9] != ProtoTCP {
			continue
		}
		ihl := int(fr[14]&0xf) * 4
		tcp := fr[14+ihl:]
		if binary.BigEndian.Uint16(tcp[0:]) != f.Remote.Port() || binary.BigEndian.Uint16(tcp[2:]) != f.Local.Port() {
			continue
		}
		if tcp[13]&(SYN|ACK) != SYN|ACK {
			continue
		}
		doff := int(tcp[12]>>4) * 4
		return append([]byte(nil), tcp[20:doff]...), binary.BigEndian.Uint32(tcp[4:]), binary.BigEndian.Uint32(tcp[8:])
	}
	t.Fatalf("no SYN-ACK from %s", f.Remote)
	return nil, 0, 0
}

// tfoCookie finds the fast-open cookie (option 34) in TCP options.
func tfoCookie(o []byte) []byte {
	for i := 0; i < len(o); {
		switch o[i] {
		case 0:
			return nil
		case 1:
			i++
			continue
		}
		if i+1 >= len(o) || o[i+1] < 2 || i+int(o[i+1]) > len(o) {
			return nil
		}
		if o[i] == 34 {
			return append([]byte(nil), o[i+2:i+int(o[i+1])]...)
		}
		i += int(o[i+1])
	}
	return nil
}

// waitSynAck waits for a SYN-ACK (a retransmission) of the server on f.
func waitSynAck(f *Flow, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		select {
		case p := <-f.in:
			if p.Flags&(SYN|ACK) == SYN|ACK {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

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
func TestRedteamGapRestampedBySynAck(t *testing.T) {
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
	tp := newTopoIn(t, "10.78", "fd78", 2)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.policy("Audit", "")
	restampAcrossEnforce(t, tp, tp.servers("nginx", "python"))
}

// restampAcrossEnforce runs the attack (and its control) on each server,
// the policy being Audit-only, then switches it to Enforce.
func restampAcrossEnforce(t *testing.T, tp *topo, srvs []server) {
	a := tp.startAgent()
	waitGeneration(t, a, 1, 10*time.Second)
	for _, s := range srvs {
		tp.rawControl(t, s, false)
	}

	// A real cookie for the attacker's address.
	cf := tp.rawFlow(srvs[0].Port(), false)
	o, sseq, _ := synAckOptions(t, tp, cf, append(MSSOption(1400), 34, 2, 1, 1), nil)
	cookie := tfoCookie(o)
	if len(cookie) == 0 {
		t.Fatalf("no fast-open cookie in the SYN-ACK options %x", o)
	}
	must(t, cf.Send(Segment{Seq: cf.ISN + 1, Ack: sseq + 1, Flags: RST | ACK}))
	tfoOpt := append(MSSOption(1400), append([]byte{34, byte(2 + len(cookie))}, cookie...)...)

	head := func(tok string) []byte {
		return []byte("GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p")
	}
	open := func(s server, tok string) *Flow {
		f := tp.rawFlow(s.Port(), false)
		h := head(tok)
		_, sq, ak := synAckOptions(t, tp, f, tfoOpt, h)
		if ak != f.ISN+1+uint32(len(h)) {
			t.Fatalf("%s did not take the SYN data (SYN-ACK ack %d, ISN %d): no fast open, the test shows nothing", s.Name(), ak, f.ISN)
		}
		f.SrvISN, f.srvNext = sq, sq+1
		f.Next = f.ISN + 1 + uint32(len(h))
		t.Cleanup(func() { _ = f.Send(Segment{Seq: f.Next, Ack: f.SrvISN + 1, Flags: RST | ACK}) })
		return f
	}
	type held struct {
		f, ctl     *Flow
		tok, ctlTk string
		g          *Flow // the same attack, re-stamped by data without ACK
		gtok       string
	}
	// Every server's SYN data first: each is an audit gap of the server's
	// address, so the flows are re-born after the last of them.
	hs := map[string]held{}
	for _, s := range srvs {
		ctlTok, tok := token("gapctl"), token("gaprestamp")
		gtok := token("gapnoack")
		hs[s.Name()] = held{open(s, tok), open(s, ctlTok), tok, ctlTok, open(s, gtok), gtok}
	}
	tg := time.Now()
	time.Sleep(100 * time.Millisecond)
	for _, h := range hs {
		for _, f := range []*Flow{h.f, h.g} {
			for len(f.in) > 0 {
				<-f.in // the first SYN-ACK, already read by synAckOptions
			}
		}
	}
	for i := 0; i < 2; i++ {
		for _, h := range hs {
			f := h.f
			must(t, f.Send(Segment{Seq: f.Next, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: []byte("\r\n"), BadChecksum: true}))
			// Data without ACK: the server drops it, Audit gives the
			// flow up (no_ack, state PASS), which is not pristine either.
			must(t, h.g.Send(Segment{Seq: h.g.Next, Flags: PSH, Payload: []byte("\r\n")}))
		}
		for name, h := range hs {
			if !waitSynAck(h.f, 5*time.Second) || !waitSynAck(h.g, 5*time.Second) {
				t.Fatalf("%s: no SYN-ACK retransmission %d", name, i+1)
			}
			t.Logf("%s: SYN-ACK retransmission %d at t_g + %v", name, i+1, time.Since(tg).Round(time.Millisecond))
		}
	}
	t.Logf("while Audit-only: %s", metricsSummary(a))
	tp.policy("Enforce", "")
	waitGeneration(t, a, 2, 10*time.Second)

	forServers(t, srvs, func(t *testing.T, s server) {
		h := hs[s.Name()]
		ctl, f := h.ctl, h.f
		must(t, ctl.Data(ctl.Next, []byte("\r\n\r\n")))
		cresp, crst := ctl.Response("\r\n\r\n", time.Second)
		t.Logf("control (no re-stamp): %s", describe(cresp, crst))
		expectNeverRun(t, s, h.ctlTk, "control: the SYN-data head without the re-stamp")
		if t.Failed() {
			t.Fatalf("control failed: the harness, not the re-stamp, makes the leak")
		}
		must(t, f.Data(f.Next, []byte("\r\n\r\n")))
		resp, rst := f.Response("\r\n\r\n", time.Second)
		t.Logf("attack: %s; agent: %s", describe(resp, rst), metricsSummary(a))
		g := h.g
		must(t, g.Data(g.Next, []byte("\r\n\r\n")))
		gresp, grst := g.Response("\r\n\r\n", time.Second)
		t.Logf("attack, re-stamped after data without ACK: %s", describe(gresp, grst))
		expectNeverRun(t, s, h.gtok, fmt.Sprintf("GET /api/admin/%s, its head in fast-open SYN data while Audit-only, its flow re-born by SYN-ACK retransmissions after \"\\r\\n\" without ACK, ended after the switch to Enforce (%s)", h.gtok, describe(gresp, grst)))
		expectNeverRun(t, s, h.tok, fmt.Sprintf("GET /api/admin/%s, its head in fast-open SYN data (an audit gap) while Audit-only, its flow re-born by SYN-ACK retransmissions after bad-checksum \"\\r\\n\", ended after the switch to Enforce (%s)", h.tok, describe(resp, rst)))
	})
}
