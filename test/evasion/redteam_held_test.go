package evasion

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
)

// Red-team attempts that the normalizer held (each passes): kept as
// regression tests.

// ipv4Raw builds an IPv4 packet with the given options (padded to 4
// bytes), a wrong header checksum when badSum, and extra bytes after the
// datagram (an Ethernet trailer the IP length does not cover).
func ipv4Raw(src, dst netip.Addr, opts []byte, badSum bool, payload, trailer []byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 1) // NOP
	}
	hl := 20 + len(opts)
	b := make([]byte, hl+len(payload))
	b[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], 777)
	b[8] = 64
	b[9] = ProtoTCP
	s4, d4 := src.As4(), dst.As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	copy(b[20:], opts)
	sum := Checksum(b[:hl])
	if badSum {
		sum++
	}
	binary.BigEndian.PutUint16(b[10:], sum)
	copy(b[hl:], payload)
	return append(b, trailer...)
}

// TestRedteamHeldDiscardedCopies: the allowed twin of a denied request is
// sent first in a form the server's stack discards for a reason other than
// a TCP checksum (class 3), then the denied twin at the same sequence
// number. Rule 3 (one content per unacknowledged byte position) must
// refuse the second copy whatever the reason of the discard.
func TestRedteamHeldDiscardedCopies(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 3)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	tricks := map[string]func(t *testing.T, f *Flow, allowed []byte){
		// Linux drops an IPv4 header with a bad checksum (ip_rcv_core).
		"ipv4-bad-header-checksum": func(t *testing.T, f *Flow, allowed []byte) {
			seg := Segment{SrcPort: f.Local.Port(), DstPort: f.Remote.Port(), Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: allowed}
			must(t, f.SendIP(ipv4Raw(f.Local.Addr(), f.Remote.Addr(), nil, true, seg.Marshal(f.Local.Addr(), f.Remote.Addr()), nil)))
		},
		// A loose source route: accept_source_route=0 drops it.
		"ipv4-lsrr-option": func(t *testing.T, f *Flow, allowed []byte) {
			s4 := f.Remote.Addr().As4()
			opt := []byte{0x83, 7, 4, s4[0], s4[1], s4[2], s4[3]}
			seg := Segment{SrcPort: f.Local.Port(), DstPort: f.Remote.Port(), Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: allowed}
			must(t, f.SendIP(ipv4Raw(f.Local.Addr(), f.Remote.Addr(), opt, false, seg.Marshal(f.Local.Addr(), f.Remote.Addr()), nil)))
		},
		// A TCP MD5 signature option on a connection without a key:
		// Linux drops it (TCPMD5Unexpected).
		"tcp-md5-option": func(t *testing.T, f *Flow, allowed []byte) {
			opt := append([]byte{19, 18}, make([]byte, 16)...)
			must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Options: opt, Payload: allowed}))
		},
		// A frame to another MAC: the bridge floods it to the server's
		// port, whose stack drops it (PACKET_OTHERHOST).
		"other-host-mac": func(t *testing.T, f *Flow, allowed []byte) {
			other := net.HardwareAddr{0x02, 0x42, 0x42, 0x42, 0x42, 0x42}
			must(t, f.Link.Send(Ethernet(other, f.Link.MAC, nil, EtherIPv4, f.Packet(Segment{Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: allowed}))))
		},
		// IPv6 with the IPv4 connection's addresses in IPv4-mapped form:
		// the same flow key for the datapath; Linux drops IPv6 packets
		// from a v4-mapped source.
		"ipv6-v4mapped-twin": func(t *testing.T, f *Flow, allowed []byte) {
			src := netip.AddrFrom16(f.Local.Addr().As16())
			dst := netip.AddrFrom16(f.Remote.Addr().As16())
			seg := Segment{SrcPort: f.Local.Port(), DstPort: f.Remote.Port(), Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: allowed}
			pkt := IPv6{Src: src, Dst: dst, Proto: ProtoTCP}.Marshal(seg.Marshal(src, dst))
			must(t, f.Link.Send(Ethernet(f.ServerMAC, f.Link.MAC, nil, EtherIPv6, pkt)))
		},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		for name, trick := range tricks {
			t.Run(name, func(t *testing.T) {
				tok := token(name)
				denied, allowed := twins(tok)
				f := tp.connect(t, s.Port(), false, nil)
				trick(t, f, allowed)
				time.Sleep(20 * time.Millisecond)
				must(t, f.Data(f.ISN+1, denied))
				resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
				expectNever(t, s, tok, "GET /api/admin/"+tok+" after an allowed copy sent as "+name+" ("+describe(resp, rst)+")")
			})
		}
		// PAWS: with timestamps negotiated, the allowed copy carries a
		// timestamp older than the server's ts_recent; Linux drops it.
		t.Run("paws-old-timestamp", func(t *testing.T) {
			tok := token("paws")
			denied, allowed := twins(tok)
			f := tp.rawFlow(s.Port(), false)
			ts := func(val uint32) []byte {
				o := []byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0}
				binary.BigEndian.PutUint32(o[4:], val)
				return o
			}
			srvISN, err := synForOpts(f, f.ISN, append(MSSOption(1400), ts(100000)...), 3*time.Second)
			must(t, err)
			f.adopt(f.ISN, srvISN)
			t.Cleanup(f.Abort)
			must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: srvISN + 1, Flags: ACK, Options: ts(100001)}))
			must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: srvISN + 1, Flags: ACK | PSH, Options: ts(5), Payload: allowed}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: srvISN + 1, Flags: ACK | PSH, Options: ts(100002), Payload: denied}))
			resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
			expectNever(t, s, tok, "GET /api/admin/"+tok+" after an allowed copy with an old timestamp ("+describe(resp, rst)+")")
		})
		// Sequence numbers wrap inside the request: the discarded-copy
		// trick (bad checksum) across 2^32.
		t.Run("seq-wraparound", func(t *testing.T) {
			tok := token("wrap")
			denied, allowed := twins(tok)
			f := tp.rawFlow(s.Port(), false)
			f.ISN = 0xffffffff - 20
			f.Next = f.ISN + 1
			must(t, f.Handshake(nil, 3*time.Second))
			t.Cleanup(f.Abort)
			must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: allowed, BadChecksum: true}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Data(f.ISN+1, denied))
			resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
			expectNever(t, s, tok, "GET /api/admin/"+tok+" across the sequence wrap ("+describe(resp, rst)+")")
			// And the plain denied request across the wrap is reset.
			tok2 := token("wrap-plain")
			g := tp.rawFlow(s.Port(), false)
			g.ISN = 0xffffffff - 20
			g.Next = g.ISN + 1
			must(t, g.Handshake(nil, 3*time.Second))
			t.Cleanup(g.Abort)
			must(t, g.Data(g.ISN+1, request("/api/admin/"+tok2)))
			resp, rst = g.Response("\r\n\r\n", 500*time.Millisecond)
			expectNever(t, s, tok2, "GET /api/admin/"+tok2+" across the sequence wrap ("+describe(resp, rst)+")")
		})
		// The IP length covers an allowed request; an Ethernet trailer
		// the server trims holds the denied one (nothing to win: the
		// datapath reads the IP length too).
		t.Run("ethernet-trailer", func(t *testing.T) {
			tok := token("trailer")
			f := tp.connect(t, s.Port(), false, nil)
			allowed := request(token("/api/v1/trailer"))
			seg := Segment{SrcPort: f.Local.Port(), DstPort: f.Remote.Port(), Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: allowed}
			must(t, f.SendIP(ipv4Raw(f.Local.Addr(), f.Remote.Addr(), nil, false, seg.Marshal(f.Local.Addr(), f.Remote.Addr()), request("/api/admin/"+tok))))
			resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
			expectNever(t, s, tok, "GET /api/admin/"+tok+" in an Ethernet trailer ("+describe(resp, rst)+")")
		})
		// A denied request one byte per segment, its marker in a header
		// after the request line: the parser is incremental across
		// segment boundaries. (A marker in the request line itself shows
		// in nginx's log: TestRedteamSplitRequestLineLogged.)
		t.Run("one-byte-segments", func(t *testing.T) {
			tok := token("bytes")
			f := tp.connect(t, s.Port(), false, nil)
			req := []byte("GET /api/admin/x HTTP/1.1\r\nHost: srv\r\nX-Tok: " + tok + "\r\n\r\n")
			for i := range req {
				if err := f.Data(f.ISN+1+uint32(i), req[i:i+1]); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
			if !rst {
				t.Errorf("no reset for GET /api/admin/x sent one byte per segment (%s)", describe(resp, rst))
			}
			expectNever(t, s, tok, "GET /api/admin/x (header X-Tok: "+tok+") one byte per segment ("+describe(resp, rst)+")")
		})
	})
}

// TestRedteamHeldSecondaryAddress: the server pod also owns a secondary
// IPv4 address no policy names; its stack accepts connections to it. The
// interface-to-pod record must police it like the pod IP.
func TestRedteamHeldSecondaryAddress(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 7)
	second := netip.MustParseAddr("10.90.7.11")
	tp.run(tp.srv, "ip", "addr", "add", second.String()+"/24", "dev", "eth0")
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		tok := token("secondary")
		f := tp.rawFlow(s.Port(), false)
		f.Remote = netip.AddrPortFrom(second, f.Remote.Port())
		must(t, f.Handshake(nil, 3*time.Second))
		t.Cleanup(f.Abort)
		must(t, f.Data(f.ISN+1, request("/api/admin/"+tok)))
		resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
		expectNever(t, s, tok, "GET /api/admin/"+tok+" to the secondary address "+second.String()+" ("+describe(resp, rst)+")")
	})
}

// TestRedteamHeldFlowTableFull: with a flow table of 64 entries filled by
// the SYN-ACKs answering spoofed SYNs, a connection opened before the
// flood keeps its flow (no eviction: its denied request is still reset),
// and a new connection gets none: its request, allowed or not, is refused
// (flow_table_full, then no_flow), never passed unparsed. (A reset frees
// its flow: the new connections are tried first.)
func TestRedteamHeldFlowTableFull(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 11)
	tp.policy("Enforce", "")
	srvs := tp.servers("go")
	tp.agent = startAgentArgs(t, tp.dir, []string{"--max-flows", "64"}, tp.srv.Port)
	s := srvs[0]
	old := tp.connect(t, s.Port(), false, nil)
	src := tp.atk4.Next()
	tp.run(tp.srv, "ip", "neigh", "replace", src.String(), "lladdr", tp.mac(tp.cli).String(), "dev", "eth0", "nud", "permanent")
	for i := range 200 {
		seg := Segment{SrcPort: uint16(3000 + i), DstPort: uint16(s.Port()), Seq: uint32(i) * 7919, Flags: SYN, Options: MSSOption(1400)}
		pkt := IPv4{Src: src, Dst: tp.srv.Addr, Proto: ProtoTCP, ID: uint16(i)}.Marshal(seg.Marshal(src, tp.srv.Addr))
		must(t, tp.link.Send(Ethernet(tp.srvMAC, tp.link.MAC, nil, EtherIPv4, pkt)))
	}
	time.Sleep(200 * time.Millisecond)
	full := tp.agent.Metric("axon_drops_total", map[string]string{"reason": "flow_table_full"})
	t.Logf("flow_table_full %v, axon_flows %v, SYN cookies sent %d", full, tp.agent.Metric("axon_flows", nil), tp.tcpExt("SyncookiesSent"))
	if full == 0 {
		t.Fatal("the flood did not fill the flow table")
	}
	for _, path := range []string{"/api/v1/", "/api/admin/"} {
		tok := token("new")
		f := tp.connect(t, s.Port(), false, nil)
		must(t, f.Data(f.ISN+1, request(path+tok)))
		resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
		expectNever(t, s, tok, "GET "+path+tok+" on a connection opened with the flow table full ("+describe(resp, rst)+")")
	}
	tokOld := token("old")
	must(t, old.Data(old.ISN+1, request("/api/admin/"+tokOld)))
	resp, rst := old.Response("\r\n\r\n", 500*time.Millisecond)
	expectNever(t, s, tokOld, "GET /api/admin/"+tokOld+" on a connection opened before the flood ("+describe(resp, rst)+")")
}
