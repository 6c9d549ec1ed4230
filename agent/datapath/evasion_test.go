package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// step is one segment of a flow: data sent at the flow's next sequence
// number plus off (negative: a retransmission, positive: a gap), and the
// expected outcome. Passed segments advance the flow.
type step struct {
	data string
	off  int
	want outcome
}

func split(s string, n int, last outcome) []step {
	var out []step
	for len(s) > 0 {
		k := min(n, len(s))
		out = append(out, step{data: s[:k], want: passed})
		s = s[k:]
	}
	out[len(out)-1].want = last
	return out
}

const (
	okReq    = "GET /api/v1/items HTTP/1.1\r\nHost: orders\r\n\r\n"
	adminReq = "GET /api/v1/admin HTTP/1.1\r\nHost: orders\r\n\r\n"
)

func TestEvasions(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	body := "GET /api/v1/admin HTTP/1.1\r\n\r\n"
	// A Content-Length body holding it after its first line (one that
	// begins with a request line is refused: TestBodyThatBeginsARequest).
	clBody := "x\r\n" + body
	chunked := "POST /api/v1/orders HTTP/1.1\r\nHost: o\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n", len(body), body) + "3;ext=1\r\nGET\r\n0\r\nTrailer: x\r\n\r\n"
	long := "/api/v1/" + strings.Repeat("a", 300)
	cases := []struct {
		name  string
		src   netip.Addr
		dst   netip.AddrPort
		steps []step
	}{
		{"allowed line in 1-byte segments", web4, orders4, split(okReq, 1, passed)},
		{"denied line in 1-byte segments: the space after the target is reset", web4, orders4, split("GET /api/v1/admin ", 1, reset)},
		{"denied line split inside the method", web4, orders4, []step{{"GE", 0, passed}, {"T /api/v1/admin HTTP/1.1\r\n", 0, reset}}},
		{"denied line decided before its version", web4, orders4, []step{{"GET /api/v1/admin", 0, passed}, {" HT", 0, reset}}},
		{"allowed line split inside the version", web4, orders4, []step{{"GET /api/v1/items HT", 0, passed}, {"TP/1.1", 0, passed}, {"\r", 0, passed}, {"\n\r\n", 0, passed}}},
		{"allowed target, then a version that is not HTTP/1.x", web4, orders4, []step{{"GET /api/v1/items ", 0, passed}, {"HTTP/2.0\r\n", 0, reset}}},
		{"non-canonical path split across segments", web4, orders4, []step{{"GET /api/v1/.", 0, passed}, {"./admin HTTP/1.1\r\n", 0, reset}}},
		{"escape split across segments", web4, orders4, []step{{"GET /api/v1/%6", 0, passed}, {"1dmin HTTP/1.1\r\n", 0, reset}}},
		{"keep-alive: second request denied", web4, orders4, []step{{okReq, 0, passed}, {okReq, 0, passed}, {adminReq, 0, reset}}},
		{"after a reset the flow is dropped", web4, orders4, []step{{adminReq, 0, reset}, {okReq, 0, dropped}}},
		{"pipelining: denied second request", web4, orders4, []step{{okReq + adminReq, 0, reset}}},
		{"pipelining: three allowed", web4, orders4, []step{{okReq + okReq + okReq, 0, passed}}},
		{"pipelining: denied request split after an allowed one", web4, orders4, []step{{okReq + "GET /api/v1/adm", 0, passed}, {"in HTTP/1.1\r\n\r\n", 0, reset}}},
		{"content-length body is skipped", web4, orders4, []step{{fmt.Sprintf("POST /api/v1/orders HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", len(clBody), clBody), 0, passed}, {okReq, 0, passed}, {adminReq, 0, reset}}},
		{"content-length body across segments", web4, orders4, []step{{fmt.Sprintf("POST /api/v1/orders HTTP/1.1\r\ncontent-length:%d\r\n\r\nx\r\nGET /api", len(clBody)), 0, passed}, {clBody[len("x\r\nGET /api"):], 0, passed}, {adminReq, 0, reset}}},
		{"chunked body is skipped", web4, orders4, []step{{chunked, 0, passed}, {okReq, 0, passed}, {adminReq, 0, reset}}},
		{"chunked body in 7-byte segments", web4, orders4, append(split(chunked, 7, passed), step{adminReq, 0, reset})},
		{"content-length and chunked together", web4, orders4, []step{{"POST /api/v1/orders HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0, reset}}},
		{"transfer-encoding without chunked", web4, orders4, []step{{"POST /api/v1/orders HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0, reset}}},
		{"conflicting content-lengths", web4, orders4, []step{{"POST /api/v1/orders HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 0, reset}}},
		{"obs-fold header", web4, orders4, []step{{"GET /api/v1/x HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 0, reset}}},
		{"space before colon", web4, orders4, []step{{"GET /api/v1/x HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 0, reset}}},
		{"leading empty lines", web4, orders4, []step{{"\r\n\r\n\n" + adminReq, 0, reset}}},
		{"leading empty lines allowed", web4, orders4, []step{{"\r\n\n" + okReq, 0, passed}}},
		{"tabs and repeated spaces", web4, orders4, []step{{"GET\t \t/api/v1/admin  \tHTTP/1.1\r\n\r\n", 0, reset}}},
		{"bare LF line ends", web4, orders4, []step{{"GET /api/v1/items HTTP/1.1\nHost: o\n\n", 0, passed}, {"GET /api/v1/admin HTTP/1.0\n\n", 0, reset}}},
		{"out-of-order segment is dropped, then decided in order", web4, orders4, []step{{"min HTTP/1.1\r\n", len("GET /api/v1/ad"), dropped}, {"GET /api/v1/ad", 0, passed}, {"min HTTP/1.1\r\n", 0, reset}}},
		{"retransmission of bytes the server has not acknowledged is dropped", web4, orders4, []step{{"GET /api/v1/it", 0, passed}, {"GET /api/v1/it", -len("GET /api/v1/it"), dropped}, {"ems HTTP/1.1\r\n\r\n", 0, passed}}},
		{"retransmission with other bytes is dropped and does not change the parse", web4, orders4, []step{{"GET /api/v1/it", 0, passed}, {"GET /api/v1/ad", -len("GET /api/v1/it"), dropped}, {"ems HTTP/1.1\r\n\r\n", 0, passed}}},
		{"overlapping segment over unacknowledged bytes is dropped", web4, orders4, []step{{"GET /api/v1/ad", 0, passed}, {"v1/admin HTTP/1.1\r\n", -len("v1/ad"), dropped}, {"min HTTP/1.1\r\n", 0, reset}}},
		{"long path under an allowed prefix", web4, orders4, []step{{"GET " + long + " HTTP/1.1\r\n\r\n", 0, passed}}},
		{"long path under a denied prefix", web4, orders4, []step{{"GET /api/v1/admin/" + strings.Repeat("b", 500) + " HTTP/1.1\r\n\r\n", 0, reset}}},
		{"long path in small segments", web4, orders4, split("GET /api/v1/admin/"+strings.Repeat("c", 1000)+" HTTP/1.1\r\n", 100, reset)},
		{"path longer than 4096 bytes", web4, orders4, split("GET /api/v1/"+strings.Repeat("d", 4200)+" HTTP/1.1\r\n", 1000, reset)},
		{"TLS is not HTTP", web4, orders4, []step{{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0, reset}}},
		{"HTTP/2 prior knowledge is not HTTP/1", web4, orders4, []step{{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, reset}}},
		{"HTTP/0.9 is not HTTP/1", web4, orders4, []step{{"GET /api/v1/items\r\n", 0, reset}}},
		{"audit endpoint: not HTTP passes and stops parsing", world, legacy, []step{{"\x16\x03\x01garbage", 0, passed}, {"GET /nope HTTP/1.1\r\n\r\n", 0, passed}}},
		{"audit endpoint: would-deny passes", world, legacy, []step{{"GET /nope HTTP/1.1\r\n\r\n", 0, passed}, {"GET /ok HTTP/1.1\r\n\r\n", 0, passed}}},
		{"ipv6 split denied line", web6, orders6, split("GET /api/v1/admin ", 3, reset)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, d.Ingress(), tc.src, tc.dst)
			for i, s := range tc.steps {
				seq := f.seq + uint32(s.off)
				got, out := f.sendAt(seq, s.data)
				if got != s.want {
					t.Fatalf("step %d %q: %v, want %v", i, s.data, got, s.want)
				}
				if got == reset {
					checkServerRST(t, f, out)
				}
				if got == passed && s.off <= 0 {
					f.seq = max(f.seq, seq+uint32(len(s.data)))
				}
			}
		})
	}
}

// TestIPHeaderVariants: IPv4 options and IPv6 extension headers do not hide
// a request; fragments to a policed endpoint are dropped.
func TestIPHeaderVariants(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		src  netip.Addr
		dst  netip.AddrPort
		opts int
		frag bool
		req  string
		want outcome
	}{
		{"ipv4 options allowed", web4, orders4, 8, false, okReq, passed},
		{"ipv4 options denied", web4, orders4, 8, false, adminReq, reset},
		{"ipv6 extension headers allowed", web6, orders6, 1, false, okReq, passed},
		{"ipv6 extension headers denied", web6, orders6, 1, false, adminReq, reset},
		{"ipv4 first fragment", web4, orders4, 0, true, okReq, dropped},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFlow(t, d.Ingress(), c.src, c.dst)
			got, out := runSegment(t, d.Ingress(), segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpACK | tcpPSH, payload: []byte(c.req), ipOpts: c.opts, fragMF: c.frag})
			if got != c.want {
				t.Fatalf("%v, want %v", got, c.want)
			}
			if got == reset {
				checkServerRST(t, f, out)
			}
		})
	}
}

// checkServerRST checks that a reset segment is a valid RST the server
// accepts: same addresses and ports, sequence number = the next byte the
// server expects, RST|ACK, no payload, valid checksum.
func checkServerRST(t *testing.T, f *flow, p parsedTCP) {
	t.Helper()
	if p.src != f.src || p.dst != f.dst {
		t.Errorf("RST %v -> %v, want %v -> %v", p.src, p.dst, f.src, f.dst)
	}
	if p.seq != f.seq {
		t.Errorf("RST seq %d, want %d (server's next expected byte)", p.seq, f.seq)
	}
	if p.flags != tcpRST|tcpACK || p.payloadLen != 0 || !p.csumOK {
		t.Errorf("RST flags %#x payload %d checksum ok %v", p.flags, p.payloadLen, p.csumOK)
	}
}

// TestControlSegments: SYN, RST and FIN segments cannot move the parser away
// from the bytes the server takes, and bytes before the first parsed one are
// never passed unparsed.
func TestControlSegments(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	ctl := func(f *flow, seq uint32, flags uint8, data string) outcome {
		t.Helper()
		o, _ := runSegment(t, f.prog, segment{src: f.src, dst: f.dst, seq: seq, ack: f.ack, flags: flags, payload: []byte(data)})
		return o
	}
	t.Run("SYN with a later sequence number inside a connection", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send(okReq); o != passed {
			t.Fatal(o)
		}
		// Were the parser moved 100 bytes ahead, the denied request sent at
		// the server's next byte would look like a retransmission.
		if o := ctl(f, f.seq+99, tcpSYN, ""); o != passed {
			t.Fatalf("bare SYN: %v", o)
		}
		if o := ctl(f, f.seq+99, tcpSYN, "GET /x HTTP/1.1\r\n"); o != dropped {
			t.Fatalf("SYN with data inside a connection: %v", o)
		}
		if o := f.send(adminReq); o != reset {
			t.Fatalf("request after the SYNs: %v, want reset", o)
		}
	})
	t.Run("RST at a wrong sequence number keeps the flow", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send("GET /api/v1/ad"); o != passed {
			t.Fatal(o)
		}
		ctl(f, f.seq+5, tcpRST, "")
		if o := ctl(f, f.seq+1000, tcpSYN, ""); o != passed {
			t.Fatal(o)
		}
		if o := f.send("min HTTP/1.1\r\n"); o != reset {
			t.Fatalf("rest of the denied line: %v, want reset", o)
		}
	})
	t.Run("a connection whose start was not seen is never picked up", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		ctl(f, f.seq, tcpRST, "") // the client ends the connection: the flow is gone
		if o := ctl(f, f.seq+100, tcpACK, okReq); o != reset {
			t.Fatalf("an allowed request mid-stream: %v, want reset", o)
		}
		if o := ctl(f, f.seq, tcpACK, adminReq); o != reset {
			t.Fatalf("a denied one: %v, want reset", o)
		}
	})
	t.Run("a client SYN alone starts nothing", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		ctl(f, f.seq, tcpRST, "")
		if o := ctl(f, 4242, tcpSYN, ""); o != passed {
			t.Fatal(o)
		}
		if o := ctl(f, 4243, tcpACK, okReq); o != reset {
			t.Fatalf("data after a SYN the server did not answer: %v, want reset", o)
		}
	})
	t.Run("FIN ends the stream", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := ctl(f, f.seq, tcpACK|tcpFIN, okReq); o != passed {
			t.Fatal(o)
		}
		if o := ctl(f, f.seq+uint32(len(okReq))+1, tcpACK, adminReq); o != dropped {
			t.Fatalf("data after FIN: %v, want dropped", o)
		}
		if o := ctl(f, 77777, tcpSYN, ""); o != passed {
			t.Fatal(o)
		}
		f.reply(90000, 77778, tcpSYN|tcpACK, "")
		f.ack = 90001 // the new connection's client acknowledges its SYN-ACK
		if o := ctl(f, 77778, tcpACK, okReq); o != passed {
			t.Fatalf("new connection on the same ports: %v, want passed", o)
		}
		if o := ctl(f, 77778+uint32(len(okReq)), tcpACK, adminReq); o != reset {
			t.Fatalf("new connection on the same ports: %v, want reset", o)
		}
	})
}

// TestSynCookieBounds (red team rt49): a SYN-cookie server accepts the
// handshake of any client ISN whose cookie the client knows, so a segment
// may belong to another connection of the server's on the same ports. Its
// ACK gives it away when it lies outside the server bytes the flow saw,
// below the server's first byte as above its last (a cookie of the
// minute before): refused. And until the server acknowledges a byte, the
// flow takes no more than the SYN-ACK's window, which is never scaled:
// 65535 bytes; past it, bytes wait for the server's acknowledgement.
func TestSynCookieBounds(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	t.Run("ACK below the server's first byte", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		o, _ := runSegment(t, f.prog, segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack - 13937691, flags: tcpACK, payload: []byte(okReq)})
		if o != reset {
			t.Fatalf("data acknowledging less than the server's SYN-ACK: %v, want reset", o)
		}
		g := newFlow(t, d.Ingress(), web4, orders4)
		if o := g.send(okReq); o != passed {
			t.Fatalf("data acknowledging exactly the SYN-ACK (control): %v", o)
		}
	})
	t.Run("no more than the SYN-ACK's window before an acknowledgement", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		start := f.seq
		if o := f.send("POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nContent-Length: 200000\r\n\r\n"); o != passed {
			t.Fatalf("an allowed POST head: %v", o)
		}
		chunk := strings.Repeat("a", 1400)
		for f.seq-start+uint32(len(chunk)) <= 65535 {
			if o := f.send(chunk); o != passed {
				t.Fatalf("body bytes within the window (%d sent): %v", f.seq-start, o)
			}
		}
		if o, _ := f.sendAt(f.seq, chunk); o != dropped {
			t.Fatalf("body bytes past 65535 before the server acknowledged any: %v, want dropped", o)
		}
		f.serverACK(f.seq)
		if o := f.send(chunk); o != passed {
			t.Fatalf("the same bytes once the server acknowledged: %v", o)
		}
	})
}

// TestRetransmissionAgainstServerACKs: a retransmission of bytes the
// server has acknowledged (the reply program saw its ACK) passes: the server
// discards it. One of bytes passed but not acknowledged is dropped (the
// server may have dropped the first copy, and this one may differ), and a
// client that keeps sending such copies is reset.
func TestRetransmissionAgainstServerACKs(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	t.Run("acknowledged bytes", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		start := f.seq
		if o := f.send(okReq); o != passed {
			t.Fatal(o)
		}
		f.serverACK(f.seq)
		if o, _ := f.sendAt(start, okReq); o != passed {
			t.Fatalf("retransmission of acknowledged bytes: %v", o)
		}
		if o := f.send(adminReq); o != reset {
			t.Fatalf("next request: %v", o)
		}
	})
	t.Run("overlap: only the new bytes are parsed", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send("GET /api/v1/ad"); o != passed {
			t.Fatal(o)
		}
		f.serverACK(f.seq)
		if o, _ := f.sendAt(f.seq-uint32(len("v1/ad")), "v1/admin HTTP/1.1\r\n"); o != reset {
			t.Fatalf("overlapping segment: %v, want reset", o)
		}
	})
	t.Run("unacknowledged bytes", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		start := f.seq
		if o := f.send(okReq); o != passed {
			t.Fatal(o)
		}
		f.serverACK(start + 4)                               // the server has only "GET "
		other := strings.Replace(okReq, "items", "admin", 1) // same length
		for i := 1; i < 3; i++ {
			if o, _ := f.sendAt(start, other); o != dropped {
				t.Fatalf("copy %d of unacknowledged bytes: %v, want dropped", i, o)
			}
		}
		o, out := f.sendAt(start, other)
		if o != reset {
			t.Fatalf("third copy of unacknowledged bytes: %v, want reset", o)
		}
		checkServerRST(t, f, out)
	})
	t.Run("an ACK resets the count", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		start := f.seq
		if o := f.send(okReq); o != passed {
			t.Fatal(o)
		}
		for i := 0; i < 2; i++ {
			if o, _ := f.sendAt(start, okReq); o != dropped {
				t.Fatalf("unacknowledged copy: %v, want dropped", o)
			}
		}
		f.serverACK(f.seq)
		if o, _ := f.sendAt(start, okReq); o != passed {
			t.Fatalf("copy after the server's ACK: %v, want passed", o)
		}
	})
	t.Run("ACKs beyond what was passed are ignored", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		start := f.seq
		if o := f.send(okReq); o != passed {
			t.Fatal(o)
		}
		f.serverACK(start + 100000)
		if o, _ := f.sendAt(start, okReq); o != dropped {
			t.Fatalf("retransmission with no valid ACK: %v, want dropped", o)
		}
	})
	t.Run("a forged server ACK sent towards the server is not the server's", func(t *testing.T) {
		f := newFlow(t, d.Ingress(), web4, orders4)
		start := f.seq
		if o := f.send(okReq); o != passed {
			t.Fatal(o)
		}
		// From the server's address, but on the to-server direction.
		forged := segment{src: f.dst, dst: f.src, seq: f.ack, ack: f.seq, flags: tcpACK}
		if o, _ := runSegment(t, d.Ingress(), forged); o != passed {
			t.Fatalf("forged ACK: %v", o)
		}
		other := strings.Replace(okReq, "items", "admin", 1)
		if o, _ := f.sendAt(start, other); o != dropped {
			t.Fatalf("retransmission after a forged ACK: %v, want dropped", o)
		}
	})
}
