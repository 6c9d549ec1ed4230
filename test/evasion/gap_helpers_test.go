package evasion

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds what the audit-gap attacks (class 34,
// redteam_*gap*_test.go) share: the allowed request and the denied open
// head of the same length they place at the same stream position, IPv4
// fragments of a segment, and the fast-open pieces (a real cookie, the
// server's SYN-ACKs read off the wire).

// gapHeads returns tokens and two payloads of the same length: allowed, a
// whole request the policy allows (GET /api/v1/<okTok>a...), and denied, the
// open head of a denied one (GET /api/admin/<tok>, ending inside an X-Pad
// header line), for tokens made from prefix.
func gapHeads(prefix string) (tok, okTok string, allowed, denied []byte) {
	tok, okTok = token(prefix), token(prefix+"ok")
	ap := "GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: "
	al := "GET /api/v1/" + okTok + "a HTTP/1.1\r\nHost: srv\r\n\r\n"
	for len(al) < len(ap)+3 {
		al = strings.Replace(al, "a HTTP", "aa HTTP", 1)
	}
	ap += strings.Repeat("p", len(al)-len(ap))
	return tok, okTok, []byte(al), []byte(ap)
}

// sendDroppedCopy sends payload at the flow's first byte with a bad TCP
// checksum: the datapath parses it, the server drops it. Then it gives the
// copy 50 ms.
func sendDroppedCopy(t *testing.T, f *Flow, payload []byte) {
	t.Helper()
	must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: payload, BadChecksum: true}))
	time.Sleep(50 * time.Millisecond)
}

// endHeldHead waits (10 s at most) for the server's SYN-ACK resent on f,
// then sends ACK + "\r\n\r\n" at the stream position it acknowledges: the
// end of a head the server holds from the SYN's data. It returns the
// server's response and whether f was reset.
func endHeldHead(t *testing.T, f *Flow, next func(time.Duration) (synAck, bool)) (string, bool) {
	t.Helper()
	sa, ok := next(10 * time.Second)
	if !ok {
		t.Fatalf("no SYN-ACK resent to %s", f.Local)
	}
	t.Logf("SYN-ACK resent to %s at %s (ack %d)", f.Local, time.Now().Format("15:04:05.000"), sa.ack)
	must(t, f.Send(Segment{Seq: sa.ack, Ack: sa.seq + 1, Flags: ACK | PSH, Payload: []byte("\r\n\r\n")}))
	return f.Response("\r\n\r\n", time.Second)
}

// sendFragments4 sends payload at the flow's first byte (ACK, PSH) in IPv4
// fragments of 24 bytes with IP ID id.
func sendFragments4(t *testing.T, f *Flow, payload []byte, id uint16) {
	t.Helper()
	seg := Segment{SrcPort: f.Local.Port(), DstPort: f.Remote.Port(), Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: payload}
	h := IPv4{Src: f.Local.Addr(), Dst: f.Remote.Addr(), Proto: ProtoTCP, ID: id}
	for _, fr := range Fragments4(h, seg.Marshal(f.Local.Addr(), f.Remote.Addr()), 24) {
		must(t, f.SendIP(fr))
	}
}

// synAck is a SYN-ACK of the server read off the wire.
type synAck struct {
	opts     []byte // its TCP options
	seq, ack uint32
}

// synAckWatch opens a packet socket in the client's namespace and returns
// a function that waits at most wait for the server's next SYN-ACK on f
// (IPv4, or IPv6 without extension headers), and a closer.
func synAckWatch(t *testing.T, tp *topo, f *Flow) (next func(wait time.Duration) (synAck, bool), done func()) {
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
	buf := make([]byte, 65536)
	next = func(wait time.Duration) (synAck, bool) {
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || n < 14+20+20 {
				continue
			}
			fr := buf[:n]
			var tcp []byte
			switch binary.BigEndian.Uint16(fr[12:]) {
			case EtherIPv4:
				if fr[14+9] != ProtoTCP {
					continue
				}
				tcp = fr[14+int(fr[14]&0xf)*4:]
			case EtherIPv6: // no extension headers
				if n < 14+40+20 || fr[14+6] != ProtoTCP || [16]byte(fr[14+24:14+40]) != f.Local.Addr().As16() {
					continue
				}
				tcp = fr[14+40:]
			default:
				continue
			}
			if binary.BigEndian.Uint16(tcp[0:]) != f.Remote.Port() || binary.BigEndian.Uint16(tcp[2:]) != f.Local.Port() {
				continue
			}
			if tcp[13]&(SYN|ACK) != SYN|ACK {
				continue
			}
			doff := int(tcp[12]>>4) * 4
			return synAck{append([]byte(nil), tcp[20:doff]...), binary.BigEndian.Uint32(tcp[4:]), binary.BigEndian.Uint32(tcp[8:])}, true
		}
		return synAck{}, false
	}
	return next, func() { unix.Close(fd) }
}

// synAckWithin sends f's SYN with TCP options opts and payload and waits
// at most wait for the server's SYN-ACK.
func synAckWithin(t *testing.T, tp *topo, f *Flow, opts, payload []byte, wait time.Duration) (synAck, bool) {
	t.Helper()
	next, done := synAckWatch(t, tp, f)
	defer done()
	must(t, f.Send(Segment{Seq: f.ISN, Flags: SYN, Options: opts, Payload: payload}))
	return next(wait)
}

// fastOpenOption fetches a real fast-open cookie for the client's address
// from the server on port (a SYN asking for one, then a RST) and returns
// the TCP options of a SYN that carries it.
func fastOpenOption(t *testing.T, tp *topo, port int) []byte {
	t.Helper()
	cf := tp.rawFlow(port, false)
	sa, ok := synAckWithin(t, tp, cf, append(MSSOption(1400), 34, 2, 1, 1), nil, 3*time.Second)
	if !ok {
		t.Fatalf("no SYN-ACK from %s", cf.Remote)
	}
	cookie := tfoCookie(sa.opts)
	if len(cookie) == 0 {
		t.Fatalf("no fast-open cookie in the SYN-ACK options %x", sa.opts)
	}
	must(t, cf.Send(Segment{Seq: cf.ISN + 1, Ack: sa.seq + 1, Flags: RST | ACK}))
	return append(MSSOption(1400), append([]byte{34, byte(2 + len(cookie))}, cookie...)...)
}

// fastOpenTopo starts, on tp, Go (with TCP_FASTOPEN), nginx and Python with
// fast open on for every listener of the server's namespace, and an agent
// with the policy in mode in force (generation 1); the raw controls pass.
// It returns the servers, the agent, and the options of a fast-open SYN
// carrying a real cookie.
func fastOpenTopo(t *testing.T, tp *topo, mode string) (srvs []server, a *agent, tfoOpt []byte) {
	t.Helper()
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.policy(mode, "")
	srvs = append([]server{startGoTFO(t, tp.srv, goPort)}, tp.servers("nginx", "python")...)
	a = tp.startAgent()
	waitGeneration(t, a, 1, 10*time.Second)
	for _, s := range srvs {
		tp.rawControl(t, s, false)
	}
	return srvs, a, fastOpenOption(t, tp, srvs[0].Port())
}

// unpolice opens a window in which the server's endpoint is not policed:
// it removes policy.yaml and waits for the agent's next generation (*gen,
// counted up). The returned function writes the policy back and waits for
// the generation after.
func unpolice(t *testing.T, tp *topo, a *agent, gen *int) (restore func()) {
	t.Helper()
	policyFile := filepath.Join(tp.dir, "policy.yaml")
	policyText, err := os.ReadFile(policyFile)
	must(t, err)
	must(t, os.Remove(policyFile))
	*gen++
	waitGeneration(t, a, *gen, 10*time.Second)
	return func() {
		t.Helper()
		tp.write("policy.yaml", string(policyText))
		*gen++
		waitGeneration(t, a, *gen, 10*time.Second)
		t.Logf("policy back at %s", time.Now().Format("15:04:05.000"))
	}
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

// heldConn is a raw connection whose fast-open SYN is to carry h, the start
// of a denied head with the marker tok, and the watch on its SYN-ACKs.
type heldConn struct {
	f    *Flow
	tok  string
	h    []byte
	next func(time.Duration) (synAck, bool)
	done func()
}

// plantedConn makes f a heldConn (marker from tag) whose SYN record is
// planted: a data-less SYN with a bad TCP checksum at ISN + len(h), which
// the program records and the server drops (rt36).
func plantedConn(t *testing.T, tp *topo, f *Flow, tag string) *heldConn {
	t.Helper()
	tok := token(tag)
	c := &heldConn{f: f, tok: tok, h: []byte("GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p")}
	c.next, c.done = synAckWatch(t, tp, f)
	must(t, f.Send(Segment{Seq: f.ISN + uint32(len(c.h)), Flags: SYN, Options: MSSOption(1400), BadChecksum: true}))
	if _, ok := c.next(300 * time.Millisecond); ok {
		c.done()
		t.Fatalf("%s: the server answered the bad-checksum SYN", f.Local)
	}
	return c
}

// sendFastOpen sends c's fast-open SYN (options opt: the cookie) carrying
// its held head and waits for the SYN-ACK that takes the data.
func (c *heldConn) sendFastOpen(t *testing.T, opt []byte) {
	t.Helper()
	must(t, c.f.Send(Segment{Seq: c.f.ISN, Flags: SYN, Options: opt, Payload: c.h}))
	sa, ok := c.next(3 * time.Second)
	if !ok || sa.ack != c.f.ISN+1+uint32(len(c.h)) {
		t.Fatalf("%s: no SYN-ACK taking the SYN data (ok %v, ack %d, ISN %d)", c.f.Local, ok, sa.ack, c.f.ISN)
	}
}

// plantedConns is plantedConn for a new IPv4 raw flow to each server, by
// server name.
func plantedConns(t *testing.T, tp *topo, srvs []server, tag string) map[string]*heldConn {
	t.Helper()
	cs := map[string]*heldConn{}
	for _, s := range srvs {
		cs[s.Name()] = plantedConn(t, tp, tp.rawFlow(s.Port(), false), tag)
	}
	return cs
}
