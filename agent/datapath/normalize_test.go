package datapath

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The TCP/IP classes of docs/security.md, through the real program: each
// sends the attack's packets and checks the program's verdict on them.

// runRaw runs prog on a frame and says whether it passed unchanged, was
// dropped, or was rewritten into a reset.
func runRaw(t testing.TB, prog *ebpf.Program, in []byte) outcome {
	t.Helper()
	out := make([]byte, len(in)+256)
	ret, err := prog.Run(&ebpf.RunOptions{Data: in, DataOut: out})
	if err != nil {
		t.Fatalf("running program: %v", err)
	}
	switch {
	case ret == 2:
		return dropped
	case ret != 0:
		t.Fatalf("program returned %d", ret)
	case string(out[:len(in)]) == string(in):
		return passed
	}
	if p, ok := parseOut(out); ok && p.flags&tcpRST != 0 && p.payloadLen == 0 {
		return reset
	}
	return changed
}

// withVLAN inserts 802.1Q/802.1ad tags (TPIDs given, VID 0) after the MACs.
func withVLAN(frame []byte, tpids ...uint16) []byte {
	var tags []byte
	for _, tp := range tpids {
		tags = binary.BigEndian.AppendUint16(tags, tp)
		tags = append(tags, 0, 0) // priority 0, VID 0: a priority tag
	}
	return append(append(append([]byte{}, frame[:12]...), tags...), frame[12:]...)
}

// ipv4Fragment turns a built IPv4 frame into a fragment: offset in 8-byte
// units, more-fragments flag, and the IP payload cut to n bytes.
func ipv4Fragment(frame []byte, offset uint16, mf bool, n int) []byte {
	out := append([]byte{}, frame[:14+20+n]...)
	fo := offset
	if mf {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(out[14+6:], fo)
	binary.BigEndian.PutUint16(out[14+2:], uint16(20+n))
	out[14+10], out[14+11] = 0, 0
	binary.BigEndian.PutUint16(out[14+10:], csumFold(csumAdd(0, out[14:34])))
	return out
}

// ipv6WithExt builds an IPv6 TCP segment behind the given extension headers
// (next-header, length) chain; every header is padding only.
func ipv6WithExt(s segment, exts []struct {
	nh   byte
	size int
}) []byte {
	plain := s.bytes() // Ethernet + IPv6 (no extension) + TCP, checksums valid
	tcp := plain[14+40:]
	var chain []byte
	for i, e := range exts {
		next := byte(6)
		if i+1 < len(exts) {
			next = exts[i+1].nh
		}
		h := make([]byte, e.size)
		h[0] = next
		h[1] = byte(e.size/8 - 1)
		if e.size > 2 {
			h[2], h[3] = 1, byte(e.size-4) // PadN over the rest
		}
		chain = append(chain, h...)
	}
	ip := append([]byte{}, plain[14:14+40]...)
	if len(exts) > 0 {
		ip[6] = exts[0].nh
	}
	binary.BigEndian.PutUint16(ip[4:], uint16(len(chain)+len(tcp)))
	return append(append(append(append([]byte{}, plain[:14]...), ip...), chain...), tcp...)
}

func TestNormalizer(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	data := func(f *flow, flags uint8, payload string) segment {
		return segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: flags, payload: []byte(payload)}
	}

	t.Run("class 1: urgent data resets the connection", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send("GET /api/v1/admin"); o != passed {
			t.Fatal(o)
		}
		// send("X", MSG_OOB): the server's stack takes X out of the stream.
		if o, _ := runSegment(t, d.Ingress(), data(f, tcpACK|tcpPSH|0x20, "X")); o != reset {
			t.Fatalf("urgent segment: %v, want reset", o)
		}
		if o := f.send("?q HTTP/1.1\r\n\r\n"); o != dropped {
			t.Fatalf("after the reset: %v, want dropped", o)
		}
	})
	t.Run("class 3: data in a SYN is dropped and starts nothing", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		syn := segment{src: f.src, dst: f.dst, seq: f.seq - 1, flags: tcpSYN, payload: []byte(okReq)}
		if o, _ := runSegment(t, d.Ingress(), syn); o != dropped {
			t.Fatalf("SYN with data: %v, want dropped", o)
		}
		other := "GET /api/v1/admin HTTP/1.1\r\nHost: orders\r\n\r\n"
		if o := f.send(other); o != reset {
			t.Fatalf("the denied request at ISN+1: %v, want reset", o)
		}
	})
	t.Run("class 3: data without the ACK flag is dropped", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o, _ := runSegment(t, d.Ingress(), data(f, tcpPSH, okReq)); o != dropped {
			t.Fatalf("no ACK flag: %v, want dropped", o)
		}
		if o := f.send(adminReq); o != reset {
			t.Fatalf("the denied request at the same place: %v, want reset", o)
		}
	})
	t.Run("class 3: a copy of bytes the server dropped (bad checksum) never passes", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		bad := data(f, tcpACK|tcpPSH, okReq).bytes()
		bad[len(bad)-len(okReq)-4] ^= 0xff // TCP checksum: the server drops it
		if o := runRaw(t, d.Ingress(), bad); o != passed {
			t.Fatalf("allowed request with a bad checksum: %v", o)
		}
		other := "GET /api/v1/admin HTTP/1.1\r\nHost: orders\r\n\r\n"[:len(okReq)]
		for i := 0; i < 2; i++ {
			if o, _ := f.sendAt(f.seq, other); o != dropped {
				t.Fatalf("same-length denied copy %d: %v, want dropped", i, o)
			}
		}
		if o, _ := f.sendAt(f.seq, other); o != reset {
			t.Fatalf("third copy: want reset")
		}
	})
	t.Run("class 4: SYNs inside a connection do not restart the parser", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send("POST /api/v1/orders HTTP/1.1\r\nContent-Length: 40\r\n\r\n"); o != passed {
			t.Fatal(o)
		}
		for i := 0; i < 2; i++ {
			if o, _ := runSegment(t, d.Ingress(), segment{src: f.src, dst: f.dst, seq: f.seq + 7777, flags: tcpSYN}); o != passed {
				t.Fatal(o)
			}
		}
		// Inside the body for the server: must not be parsed as a request
		// (after its first byte: TestBodyThatBeginsARequest).
		if o := f.send("\nGET /api/v1/admin HTTP/1.1\r\nX: 1234\r\n\r\n"); o != passed {
			t.Fatalf("body bytes: %v, want passed (not a request)", o)
		}
		if o := f.send(adminReq); o != reset {
			t.Fatalf("the request after the body: %v, want reset", o)
		}
	})
	t.Run("class 6: a RST the server may ignore ends the flow; a gone flow is never re-picked", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send("POST /api/v1/orders HTTP/1.1\r\nContent-Length: 26\r\n\r\n"); o != passed {
			t.Fatal(o)
		}
		// Past the next byte: the server ignores it (in most states),
		// the flow goes all the same (class 38).
		runSegment(t, d.Ingress(), segment{src: f.src, dst: f.dst, seq: f.seq + 1, flags: tcpRST})
		if o := f.send("\nGET /api/v1/items HTTP/1.1"[:26]); o != reset {
			t.Fatalf("the body after the RST: %v, want reset (no_flow)", o)
		}
		if o := f.send(adminReq); o == passed {
			t.Fatalf("after the body: %v, want it refused", o)
		}
	})
	t.Run("class 7: IPv4 fragments to a policed pod are dropped", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		whole := data(f, tcpACK|tcpPSH, adminReq).bytes()
		if o := runRaw(t, d.Ingress(), ipv4Fragment(whole, 0, true, 8)); o != dropped {
			t.Fatalf("tiny first fragment (8 bytes of TCP header): %v, want dropped", o)
		}
		if o := runRaw(t, d.Ingress(), ipv4Fragment(whole, 0, true, 24)); o != dropped {
			t.Fatalf("first fragment: %v, want dropped", o)
		}
		if o := runRaw(t, d.Ingress(), ipv4Fragment(whole, 1, false, 24)); o != dropped {
			t.Fatalf("later fragment: %v, want dropped", o)
		}
		// A fragment to an address nobody polices passes.
		other := segment{src: netip.AddrPortFrom(web4, 1234), dst: netip.MustParseAddrPort("10.9.9.9:8080"), flags: tcpACK, payload: []byte(adminReq)}
		if o := runRaw(t, d.Ingress(), ipv4Fragment(other.bytes(), 0, true, 8)); o != passed {
			t.Fatalf("fragment to an unpoliced address: %v, want passed", o)
		}
	})
	type ext = struct {
		nh   byte
		size int
	}
	const dstopts, frag = 60, 44
	t.Run("class 8: IPv6 extension headers are walked to the TCP header", func(t *testing.T) {
		for _, c := range []struct {
			name string
			exts []ext
			want outcome
		}{
			{"four 8-byte destination options", []ext{{dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}}, reset},
			{"one 256-byte destination options header", []ext{{dstopts, 256}}, reset},
			{"one 2048-byte destination options header", []ext{{dstopts, 2048}}, reset},
			{"eight headers", []ext{{0, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}}, reset},
			{"nine headers: not walked, dropped", []ext{{0, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}, {dstopts, 8}}, dropped},
			{"a fragment header", []ext{{frag, 8}}, dropped},
		} {
			t.Run(c.name, func(t *testing.T) {
				f := newFlow(t, d.Ingress(), web6, orders6)
				if o := runRaw(t, d.Ingress(), ipv6WithExt(data(f, tcpACK|tcpPSH, adminReq), c.exts)); o != c.want {
					t.Fatalf("denied request: %v, want %v", o, c.want)
				}
			})
		}
		f := newFlow(t, d.Ingress(), web6, orders6)
		if o := runRaw(t, d.Ingress(), ipv6WithExt(data(f, tcpACK|tcpPSH, okReq), []ext{{dstopts, 256}})); o != passed {
			t.Fatalf("allowed request behind a 256-byte header: %v, want passed", o)
		}
	})
	t.Run("class 9: VLAN-tagged frames to a policed pod are dropped", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		frame := data(f, tcpACK|tcpPSH, adminReq).bytes()
		for _, tags := range [][]uint16{{0x8100}, {0x8100, 0x8100}, {0x88a8, 0x8100}, {0x8100, 0x8100, 0x8100, 0x8100, 0x8100}} {
			if o := runRaw(t, d.Ingress(), withVLAN(frame, tags...)); o != dropped {
				t.Fatalf("tags %x: %v, want dropped", tags, o)
			}
		}
		other := segment{src: netip.AddrPortFrom(web4, 1234), dst: netip.MustParseAddrPort("10.9.9.9:8080"), flags: tcpACK, payload: []byte(adminReq)}
		if o := runRaw(t, d.Ingress(), withVLAN(other.bytes(), 0x8100)); o != passed {
			t.Fatalf("tagged frame to an unpoliced address: %v, want passed", o)
		}
	})
	t.Run("IP lengths the server reads differently are dropped", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web6, orders6)
		jumbo := data(f, tcpACK|tcpPSH, adminReq).bytes()
		jumbo[14+4], jumbo[14+5] = 0, 0 // payload length 0: a jumbogram
		if o := runRaw(t, d.Ingress(), jumbo); o != dropped {
			t.Fatalf("IPv6 payload length 0: %v, want dropped", o)
		}
		g := newFlow(t, d.Ingress(), web4, orders4)
		long := data(g, tcpACK|tcpPSH, adminReq).bytes()
		binary.BigEndian.PutUint16(long[14+2:], uint16(len(long)-14+100)) // longer than the frame
		if o := runRaw(t, d.Ingress(), long); o != dropped {
			t.Fatalf("IPv4 total length beyond the frame: %v, want dropped", o)
		}
	})
}

// TestPodInterface (class 2): on an interface that fronts a pod, a packet
// to any address of the pod (here its link-local one) is policed as the
// pod's. BPF_PROG_TEST_RUN runs on the loopback device (ifindex 1).
func TestPodInterface(t *testing.T) {
	d := podTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	linkLocal := netip.AddrPortFrom(netip.MustParseAddr("fe80::1"), orders4.Port())
	webLL := netip.MustParseAddr("fe80::2")
	f := newFlow(t, d.Ingress(), webLL, linkLocal)
	if o := f.send(adminReq); o != passed {
		t.Fatalf("without the interface recorded the link-local address is nobody's: %v", o)
	}
	if err := d.SetPodInterface(PodInterface{Ifindex: 1, Addrs: []netip.Addr{orders4.Addr(), orders6.Addr()}}); err != nil {
		t.Fatal(err)
	}
	f = newFlow(t, d.Ingress(), webLL, linkLocal)
	if o := f.send(okReq); o != reset {
		// webLL is no known pod: "world", which orders-api denies by default.
		t.Fatalf("request to the pod's link-local address from an unknown source: %v, want reset", o)
	}
	f = newFlow(t, d.Ingress(), webLL, linkLocal)
	if o := f.send(adminReq); o != reset {
		t.Fatalf("denied request to the link-local address: %v, want reset", o)
	}
	// Fragments and tagged frames to any address behind the interface too.
	frag := ipv4Fragment(segment{src: netip.AddrPortFrom(web4, 999), dst: netip.MustParseAddrPort("10.99.0.1:8080"), flags: tcpACK, payload: []byte(adminReq)}.bytes(), 0, true, 8)
	if o := runRaw(t, d.Ingress(), frag); o != dropped {
		t.Fatalf("fragment to another address of the pod: %v, want dropped", o)
	}
	if err := d.DeletePodInterface(1); err != nil {
		t.Fatal(err)
	}
	if o := runRaw(t, d.Ingress(), frag); o != passed {
		t.Fatalf("after the interface is forgotten: %v, want passed", o)
	}
}

// TestFlowTableFlood (class 6): the flow table is never evicted: filling
// it with connections refuses new ones (fail closed) while the ones in it
// keep being parsed; expiry makes room again.
func TestFlowTableFlood(t *testing.T) {
	d := openTest(t, WithMaxFlows(64))
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	victim := newFlow(t, d.Ingress(), web4, orders4)
	if o := victim.send("POST /api/v1/orders HTTP/1.1\r\nContent-Length: 45\r\n\r\n"); o != passed {
		t.Fatal(o)
	}
	for i := 0; i < 200; i++ { // spoofed SYN-ACK / connection starts
		newFlow(t, d.Ingress(), netip.AddrFrom4([4]byte{10, 7, byte(i >> 8), byte(i)}), orders4)
	}
	c, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Reasons[ReasonFlowTableFull.String()] == 0 {
		t.Fatalf("no %s counted after 200 connections into 64 slots", ReasonFlowTableFull)
	}
	// The victim's body is still skipped: the request in it is not parsed.
	if o := victim.send("\n" + adminReq[:44]); o != passed {
		t.Fatalf("body of the victim's POST: %v, want passed", o)
	}
	if o := victim.send(adminReq); o != reset {
		t.Fatalf("the victim's next request: %v, want reset", o)
	}
	late := newFlow(t, d.Ingress(), web4, orders4)
	if o := late.send(okReq); o != reset {
		t.Fatalf("a connection with no room for its state: %v, want reset", o)
	}
	st, err := d.ExpireFlows(FlowExpiry{Ended: 0, Idle: 0})
	if err != nil {
		t.Fatal(err)
	}
	if st.Expired == 0 {
		t.Fatalf("expiry deleted nothing: %+v", st)
	}
	late = newFlow(t, d.Ingress(), web4, orders4)
	if o := late.send(okReq); o != passed {
		t.Fatalf("a new connection after expiry: %v, want passed", o)
	}
}

// TestAuditNeverDrops: on an endpoint whose policies are all in Audit mode,
// segments the normalizer refuses pass (the flow stops being parsed).
func TestAuditNeverDrops(t *testing.T) {
	d := podTest(t)
	tab := compileFS(t, map[string]string{"ns.yaml": fixtureNamespaces, "pods.yaml": fixturePods, "legacy.yaml": fixtureLegacy})
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, d.Ingress(), world, legacy)
	ahead := segment{src: f.src, dst: f.dst, seq: f.seq + 10, ack: f.ack, flags: tcpACK | tcpPSH, payload: []byte("rest")}
	if o, _ := runSegment(t, d.Ingress(), ahead); o != passed {
		t.Fatalf("out-of-order segment to an audit-only endpoint: %v, want passed", o)
	}
	g := newFlow(t, d.Ingress(), world, legacy)
	frame := segment{src: g.src, dst: g.dst, seq: g.seq, ack: g.ack, flags: tcpACK, payload: []byte(okReq)}.bytes()
	if o := runRaw(t, d.Ingress(), ipv4Fragment(frame, 0, true, 24)); o != passed {
		t.Fatalf("fragment to an audit-only endpoint: %v, want passed", o)
	}
	h := newFlow(t, d.Ingress(), world, legacy)
	if o, _ := runSegment(t, d.Ingress(), segment{src: h.src, dst: h.dst, seq: h.seq, ack: h.ack, flags: tcpACK | 0x20, payload: []byte("GET /nope HTTP/1.1\r\n\r\n")}); o != passed {
		t.Fatalf("urgent data to an audit-only endpoint: %v, want passed", o)
	}
	var k bpf.AxonAxFlowKey
	var v bpf.AxonAxFlow
	if err := d.objs.Flows.Lookup(bpf.AxonAxFlowKey{Saddr: h.src.Addr().As16(), Daddr: h.dst.Addr().As16(), Sport: h.src.Port(), Dport: h.dst.Port()}, &v); err != nil {
		t.Fatalf("flow of the urgent connection: %v (%v)", err, k)
	}
	if v.State != flowStatePass {
		t.Fatalf("flow state %d after urgent data on an audit endpoint, want pass (7)", v.State)
	}
}

// runOn runs prog on a frame as if it arrived on device ifindex
// (__sk_buff.ifindex, offset 40; BPF_PROG_TEST_RUN needs the device to
// exist).
func runOn(t testing.TB, prog *ebpf.Program, in []byte, ifindex uint32) outcome {
	t.Helper()
	ctx := make([]byte, 192)
	binary.LittleEndian.PutUint32(ctx[40:], ifindex)
	out := make([]byte, len(in)+256)
	ret, err := prog.Run(&ebpf.RunOptions{Data: in, DataOut: out, Context: ctx})
	if err != nil {
		t.Fatalf("running program on ifindex %d: %v", ifindex, err)
	}
	if ret == 2 {
		return dropped
	}
	if string(out[:len(in)]) == string(in) {
		return passed
	}
	return changed
}

// otherDevice is a device of this namespace other than loopback (ifindex 1).
func otherDevice(t *testing.T) uint32 {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Index > 1 {
			return uint32(i.Index)
		}
	}
	t.Skip("no network device besides loopback in this namespace")
	return 0
}

// TestRepliesBoundToTheServersDevice (class 5): what another device carries
// with the server's address (another pod forging it) is not the server's:
// its ACKs and SYN-ACKs do not touch the flow, and a flow made from them is
// not used for the server's traffic.
func TestRepliesBoundToTheServersDevice(t *testing.T) {
	d := podTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	other := otherDevice(t)
	f := newFlow(t, d.Ingress(), web4, orders4) // its SYN-ACK came through ifindex 1
	start := f.seq
	if o := f.send(okReq); o != passed {
		t.Fatal(o)
	}
	forgedACK := segment{src: f.dst, dst: f.src, seq: f.ack, ack: f.seq, flags: tcpACK}.bytes()
	if o := runOn(t, d.Reply(), forgedACK, other); o != passed {
		t.Fatal(o)
	}
	denied := strings.Replace(okReq, "items", "admin", 1)
	if o, _ := f.sendAt(start, denied); o != dropped {
		t.Fatalf("retransmission after an ACK from another device: %v, want dropped", o)
	}
	forgedSYNACK := segment{src: f.dst, dst: f.src, seq: 1, ack: start, flags: tcpSYN | tcpACK}.bytes()
	if o := runOn(t, d.Reply(), forgedSYNACK, other); o != passed {
		t.Fatal(o)
	}
	if o, _ := f.sendAt(start, denied); o != dropped {
		t.Fatalf("retransmission after a SYN-ACK from another device: %v, want dropped", o)
	}
	// A flow started from another device is not this device's.
	g := &flow{t: t, prog: d.Ingress(), src: netip.AddrPortFrom(web4, 39999), dst: orders4, seq: 500, ack: 900}
	syn := segment{src: g.dst, dst: g.src, seq: g.ack - 1, ack: g.seq, flags: tcpSYN | tcpACK}.bytes()
	if o := runOn(t, d.Reply(), syn, other); o != passed {
		t.Fatal(o)
	}
	if o := g.send(okReq); o != reset {
		t.Fatalf("data on a flow another device started: %v, want reset (no flow)", o)
	}
}

// TestOneCPUParsesAFlow: a segment of a flow another CPU is parsing is
// dropped, not parsed from the same state (simulated by marking the flow
// busy, as the other CPU would).
func TestOneCPUParsesAFlow(t *testing.T) {
	d := podTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, d.Ingress(), web4, orders4)
	key := bpf.AxonAxFlowKey{Saddr: f.src.Addr().As16(), Daddr: f.dst.Addr().As16(), Sport: f.src.Port(), Dport: f.dst.Port()}
	var v bpf.AxonAxFlow
	if err := d.objs.Flows.Lookup(key, &v); err != nil {
		t.Fatal(err)
	}
	v.Busy = 1
	if err := d.objs.Flows.Put(key, v); err != nil {
		t.Fatal(err)
	}
	if o := f.send(okReq); o != dropped {
		t.Fatalf("segment of a busy flow: %v, want dropped", o)
	}
	v.Busy = 0
	if err := d.objs.Flows.Put(key, v); err != nil {
		t.Fatal(err)
	}
	if o := f.send(okReq); o != passed {
		t.Fatalf("once free: %v, want passed", o)
	}
	if err := d.objs.Flows.Lookup(key, &v); err != nil || v.Busy != 0 {
		t.Fatalf("the flow stays claimed after a segment: %v %d", err, v.Busy)
	}
}

// withTCPOptions rebuilds an IPv4 segment with the given TCP options (a
// multiple of 4 bytes) and valid checksums.
func withTCPOptions(s segment, opts []byte) []byte {
	plain := s.bytes()
	ip := append([]byte{}, plain[14:34]...)
	tcp := append(append(append([]byte{}, plain[34:54]...), opts...), plain[54:]...)
	tcp[12] = byte((20+len(opts))/4) << 4
	tcp[16], tcp[17] = 0, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)))
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], csumFold(csumAdd(0, ip)))
	ph := append(append(append([]byte{}, ip[12:20]...), 0, 6), byte(len(tcp)>>8), byte(len(tcp)))
	binary.BigEndian.PutUint16(tcp[16:], csumFold(csumAdd(csumAdd(0, ph), tcp)))
	return append(append(append([]byte{}, plain[:14]...), ip...), tcp...)
}

// TestMPTCPRemovedFromSYN (class 17): an MPTCP server assembles what its
// application reads from several subflows in an order the client chooses;
// a SYN's MPTCP option to a policed endpoint is turned into NOPs, so the
// connection is plain TCP.
func TestMPTCPRemovedFromSYN(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	mss := []byte{2, 4, 0x05, 0xb4}
	mpCapable := []byte{30, 12, 0x01, 0x81, 1, 2, 3, 4, 5, 6, 7, 8} // MP_CAPABLE v1 with a key
	sackOK := []byte{4, 2, 1, 1}
	opts := append(append(append([]byte{}, mss...), mpCapable...), sackOK...)
	syn := segment{src: netip.AddrPortFrom(web4, 41000), dst: orders4, seq: 7, flags: tcpSYN}
	in := withTCPOptions(syn, opts)
	out := make([]byte, len(in)+64)
	ret, err := d.Ingress().Run(&ebpf.RunOptions{Data: in, DataOut: out})
	if err != nil || ret != 0 {
		t.Fatalf("SYN with MP_CAPABLE: ret %d err %v", ret, err)
	}
	out = out[:len(in)]
	gotOpts := out[14+20+20 : 14+20+20+len(opts)]
	want := append(append(append([]byte{}, mss...), bytesOf(1, len(mpCapable))...), sackOK...)
	if string(gotOpts) != string(want) {
		t.Fatalf("options % x, want % x", gotOpts, want)
	}
	if p, ok := parseOut(out); !ok || !p.csumOK || p.flags != tcpSYN {
		t.Fatalf("rewritten SYN: %+v ok %v", p, ok)
	}
	plainSyn := withTCPOptions(syn, append(append([]byte{}, mss...), 1, 1, 4, 2))
	if o := runRaw(t, d.Ingress(), plainSyn); o != passed {
		t.Fatalf("SYN without MPTCP: %v, want passed unchanged", o)
	}
	other := segment{src: netip.AddrPortFrom(web4, 41001), dst: netip.MustParseAddrPort("10.9.9.9:8080"), seq: 7, flags: tcpSYN}
	if o := runRaw(t, d.Ingress(), withTCPOptions(other, opts)); o != passed {
		t.Fatalf("MPTCP SYN to an unpoliced address: %v, want passed unchanged", o)
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestOneSequenceSpace: under SYN cookies a server answers every SYN, and
// the same SYN identically, without keeping state; the connection it
// completes may not be the one whose SYN-ACK the flow was made from. The
// flow follows only the server's connection: it restarts on a SYN-ACK once
// something was parsed, refuses client data acknowledging server bytes that
// never came through, and stops at a server ACK of bytes never let through.
func TestOneSequenceSpace(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	t.Run("an identical SYN-ACK after data starts the flow afresh", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		start := f.seq
		if o := f.send("GET /api/v1/items HTTP/1.1\r\nX-Pad: "); o != passed {
			t.Fatal(o)
		}
		f.serverACK(f.seq)
		f.synACK(start) // the old connection is gone; the same cookie again
		f.seq = start
		if o := f.send(adminReq); o != reset {
			t.Fatalf("a denied request at the new connection's start: %v, want reset", o)
		}
	})
	t.Run("a retransmitted SYN-ACK before any data changes nothing", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		f.synACK(f.seq)
		if o := f.send(okReq); o != passed {
			t.Fatal(o)
		}
	})
	t.Run("client data acknowledging server bytes that never came through", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		f.ack += 7 // as if acknowledging another cookie's SYN-ACK, 7 above this one
		if o := f.send(okReq); o != reset {
			t.Fatalf("%v, want reset", o)
		}
	})
	t.Run("a server ACK of bytes never let through ends the flow", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send("POST /api/v1/orders HTTP/1.1\r\nContent-Length: 100\r\n\r\n"); o != passed {
			t.Fatal(o)
		}
		f.serverACK(f.seq + 5000) // its stream is 5000 bytes ahead: another connection
		if o := f.send(adminReq); o != dropped {
			t.Fatalf("after the server's ACK from another sequence space: %v, want dropped", o)
		}
	})
}

// TestRedTeamFindings: the datapath side of what the internal red team
// found (test/evasion TestRedteam* sends them to real servers).
func TestRedTeamFindings(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	t.Run("an urgent pointer in a segment without data", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		urg := segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpACK | 0x20}
		if o, _ := runSegment(t, d.Ingress(), urg); o != reset {
			t.Fatalf("ACK|URG without data: %v, want reset", o)
		}
	})
	t.Run("a request line ended by FIN", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o, _ := runSegment(t, d.Ingress(), segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpACK | tcpFIN, payload: []byte("GET /api/v1/admin")}); o != reset {
			t.Fatalf("line and FIN in one segment: %v, want reset", o)
		}
		g := newFlow(t, d.Ingress(), web4, orders4)
		if o := g.send("GET /api/v1/admin"); o != passed {
			t.Fatal(o)
		}
		if o, _ := runSegment(t, d.Ingress(), segment{src: g.src, dst: g.dst, seq: g.seq, ack: g.ack, flags: tcpACK | tcpFIN}); o != reset {
			t.Fatalf("FIN after an open line: %v, want reset", o)
		}
		h := newFlow(t, d.Ingress(), web4, orders4)
		if o, _ := runSegment(t, d.Ingress(), segment{src: h.src, dst: h.dst, seq: h.seq, ack: h.ack, flags: tcpACK | tcpFIN, payload: []byte(okReq)}); o != passed {
			t.Fatalf("a whole request and FIN: %v, want passed", o)
		}
	})
	// Class 35: Python ends a header section at the end of the stream and
	// runs the request, without the decision again its empty line makes
	// (classes 28 and 29), so a FIN inside a header section is refused
	// like one inside a request line, allowed request or not.
	t.Run("a header section ended by FIN", func(t *testing.T) {
		open := strings.TrimSuffix(okReq, "\r\n")
		// The server's reset is at the first byte it has not seen: one
		// past the refused segment's bytes is ignored, and the server
		// would keep the head it holds.
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o, r := runSegment(t, d.Ingress(), segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpACK | tcpFIN, payload: []byte(open)}); o != reset || r.seq != f.seq {
			t.Fatalf("an open header section and FIN in one segment: %v at seq %d, want reset at %d", o, r.seq, f.seq)
		}
		for _, held := range []string{"GET /api/v1/items HTTP/1.1\r\n", open, open + "X-A: b"} {
			g := newFlow(t, d.Ingress(), web4, orders4)
			if o := g.send(held[:20]); o != passed {
				t.Fatalf("%q: %v, want passed", held[:20], o)
			}
			if o, r := runSegment(t, d.Ingress(), segment{src: g.src, dst: g.dst, seq: g.seq, ack: g.ack, flags: tcpACK | tcpFIN, payload: []byte(held[20:])}); o != reset || r.seq != g.seq {
				t.Fatalf("%q and FIN after %q: %v at seq %d, want reset at %d", held[20:], held[:20], o, r.seq, g.seq)
			}
			h := newFlow(t, d.Ingress(), web4, orders4)
			if o := h.send(held); o != passed {
				t.Fatalf("%q: %v, want passed", held, o)
			}
			if o, r := runSegment(t, d.Ingress(), segment{src: h.src, dst: h.dst, seq: h.seq, ack: h.ack, flags: tcpACK | tcpFIN}); o != reset || r.seq != h.seq {
				t.Fatalf("FIN after %q: %v at seq %d, want reset at %d", held, o, r.seq, h.seq)
			}
		}
	})
	// The server's stack takes a FIN at its own next byte, wherever that
	// is: one it receives ahead waits for the bytes before it.
	t.Run("a FIN away from the next byte", func(t *testing.T) {
		fin := func(f *flow, seq uint32, payload string) outcome {
			o, _ := runSegment(t, d.Ingress(), segment{src: f.src, dst: f.dst, seq: seq, ack: f.ack, flags: tcpACK | tcpFIN, payload: []byte(payload)})
			return o
		}
		const line = "GET /api/v1/admin"
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := fin(f, f.seq+uint32(len(line)), ""); o != dropped {
			t.Fatalf("FIN ahead of the next byte: %v, want dropped", o)
		}
		if o := f.send(line); o != passed {
			t.Fatal(o)
		}
		if o := fin(f, f.seq, ""); o != reset {
			t.Fatalf("the same FIN at the next byte: %v, want reset", o)
		}
		g := newFlow(t, d.Ingress(), web4, orders4)
		if o := g.send(line); o != passed {
			t.Fatal(o)
		}
		g.serverACK(g.seq)
		if o := fin(g, g.seq-1, line[len(line)-1:]); o != reset {
			t.Fatalf("an acknowledged byte sent again with FIN after an open line: %v, want reset", o)
		}
		h := newFlow(t, d.Ingress(), web4, orders4)
		if o := h.send(line); o != passed {
			t.Fatal(o)
		}
		h.serverACK(h.seq)
		if o := h.send("x"); o != passed { // the server may have dropped it
			t.Fatal(o)
		}
		if o := fin(h, h.seq-1, ""); o != dropped {
			t.Fatalf("FIN in place of a byte not acknowledged: %v, want dropped", o)
		}
		if o := fin(h, h.seq-2, ""); o != passed {
			t.Fatalf("FIN where the server holds data: %v, want passed (it discards it)", o)
		}
		runSegment(t, d.Ingress(), segment{src: h.src, dst: h.dst, seq: h.seq, ack: h.ack, flags: tcpACK | tcpRST})
		if o := fin(h, h.seq-1, ""); o != dropped {
			t.Fatalf("FIN after the flow was forgotten at a RST: %v, want dropped", o)
		}
		k := newFlow(t, d.Ingress(), web4, orders4)
		if o := fin(k, k.seq, okReq); o != passed {
			t.Fatal(o)
		}
		k.serverACK(k.seq + uint32(len(okReq))) // the request, not the FIN
		if o := fin(k, k.seq, okReq); o != passed {
			t.Fatalf("a request and FIN sent again: %v, want passed", o)
		}
		if o := fin(k, k.seq+uint32(len(okReq)), ""); o != passed {
			t.Fatalf("the FIN sent again alone: %v, want passed", o)
		}
	})
}

// TestAuditFlowsUnderEnforce: a stream Audit gave up parsing is not let
// through once the endpoint is enforced.
func TestAuditFlowsUnderEnforce(t *testing.T) {
	d := podTest(t)
	audit := compileFS(t, map[string]string{"ns.yaml": fixtureNamespaces, "pods.yaml": fixturePods,
		"legacy.yaml": fixtureLegacy})
	if err := d.Apply(audit); err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, d.Ingress(), world, legacy)
	if o, _ := runSegment(t, d.Ingress(), segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpPSH, payload: []byte("x")}); o != passed {
		t.Fatalf("no-ACK byte on an audit endpoint: %v, want passed", o) // parsing stops
	}
	g := newFlow(t, d.Ingress(), world, legacy)
	if o, _ := runSegment(t, d.Ingress(), segment{src: g.src, dst: g.dst, seq: g.seq, ack: g.ack, flags: tcpPSH, payload: []byte("x")}); o != passed {
		t.Fatalf("no-ACK byte on an audit endpoint: %v, want passed", o)
	}
	if o := g.send("GET /nope"); o != passed {
		t.Fatalf("an open request line on a stream Audit gave up on: %v, want passed", o)
	}
	enforced := compileFS(t, map[string]string{"ns.yaml": fixtureNamespaces, "pods.yaml": fixturePods,
		"legacy.yaml": strings.Replace(fixtureLegacy, "mode: Audit", "mode: Enforce", 1)})
	if err := d.Apply(enforced); err != nil {
		t.Fatal(err)
	}
	if o := f.send("GET /nope HTTP/1.1\r\n\r\n"); o != reset {
		t.Fatalf("the same connection under Enforce: %v, want reset", o)
	}
	// A FIN would end the line the server holds (class 20).
	if o, _ := runSegment(t, d.Ingress(), segment{src: g.src, dst: g.dst, seq: g.seq, ack: g.ack, flags: tcpACK | tcpFIN}); o != reset {
		t.Fatalf("FIN on a stream Audit gave up on, under Enforce: %v, want reset", o)
	}
}

// TestSpoofedSourceDropped: a packet with a local pod's address that did not
// come in through that pod's interface is dropped (identities are
// addresses). __sk_buff.ingress_ifindex is set in the test run's context.
func TestSpoofedSourceDropped(t *testing.T) {
	d := podTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	lo := uint32(1)
	other := otherDevice(t)
	if err := d.SetPodInterface(PodInterface{Ifindex: other, Addrs: []netip.Addr{web4}}); err != nil {
		t.Fatal(err)
	}
	syn := segment{src: netip.AddrPortFrom(web4, 42000), dst: orders4, seq: 9, flags: tcpSYN}.bytes()
	run := func(iif uint32) outcome {
		ctx := make([]byte, 192)
		binary.LittleEndian.PutUint32(ctx[36:], iif) // ingress_ifindex
		binary.LittleEndian.PutUint32(ctx[40:], lo)  // ifindex
		out := make([]byte, len(syn)+64)
		ret, err := d.Ingress().Run(&ebpf.RunOptions{Data: syn, DataOut: out, Context: ctx})
		if errors.Is(err, unix.EINVAL) && iif != 0 {
			t.Skipf("BPF_PROG_TEST_RUN on this kernel does not take ingress_ifindex in the context: %v", err)
		}
		if err != nil {
			t.Fatalf("run with ingress_ifindex %d: %v", iif, err)
		}
		if ret == 2 {
			return dropped
		}
		return passed
	}
	if o := run(lo); o != dropped {
		t.Fatalf("web's address coming in through another interface: %v, want dropped", o)
	}
	if o := run(other); o != passed {
		t.Fatalf("web's address through web's own interface: %v, want passed", o)
	}
	if o := run(0); o != passed {
		t.Fatalf("locally generated: %v, want passed", o)
	}
}
