package datapath

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/axon-dev/axon/bpf"
	"golang.org/x/sys/unix"
)

// TestServerConnection (class 38, red team rt50): a listener answering with
// SYN cookies makes a connection of any ACK that reaches it while it holds
// none for the 4-tuple, starting the client's stream at that segment. So
// data passes only while the server's socket of the connection is the
// flow's own (its stream starts at the flow's first byte): data for one
// that starts elsewhere is refused, and data that would reach the listener
// is dropped, except the flow's first segment while nothing was parsed (a
// cookie connection's first ACK). Real sockets in a namespace of the
// test's own, as in TestSynAckServerHoldsData.
func TestServerConnection(t *testing.T) {
	d := gapTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	linkLocal := netip.MustParseAddr("fe80::20")
	cases := []struct {
		name     string
		dst      netip.AddrPort
		src      netip.Addr
		sockets  serverSockets
		recordNs bool
		shift    uint32 // the flow's first byte this far before the server's
		run      func(f *flow, first uint32) []outcome
		want     []outcome
	}{
		{"the flow's connection", orders4, web4, connection, true, 0, twoRequests, []outcome{passed, passed}},
		{"IPv6: the flow's connection", orders6, web6, connection, true, 0, twoRequests, []outcome{passed, passed}},
		{"a connection starting elsewhere", orders4, web4, connection, true, 100, twoRequests, []outcome{reset, dropped}},
		{"IPv6: a connection starting elsewhere", orders6, web6, connection, true, 100, twoRequests, []outcome{reset, dropped}},
		// The first segment may open a cookie connection at the flow's
		// first byte; a later one would open one elsewhere.
		{"only the listener", orders4, web4, listenerOnly, true, 0, twoRequests, []outcome{passed, dropped}},
		{"IPv6: only the listener", orders6, web6, listenerOnly, true, 0, twoRequests, []outcome{passed, dropped}},
		// A server that acknowledged the first request and lost its
		// socket: a new cookie connection at the flow's first byte would
		// read this copy, which the datapath takes for an acknowledged
		// retransmission it need not parse.
		{"only the listener, the first byte again", orders4, web4, listenerOnly, true, 0, restartAtFirst, []outcome{passed, reset}},
		// The server acknowledged what its socket never received: a
		// connection made again at the flow's first byte (a cookie ACK
		// after the first one went) starts there too.
		{"a connection behind the server's ACK", orders4, web4, connection, true, 0, restartAtFirst, []outcome{passed, reset}},
		{"only the listener after the server acknowledged data", orders4, web4, listenerOnly, true, 0, ackedThenMore, []outcome{passed, reset}},
		// Streams of 4 GiB (class 40, attacker reviews rt55 and rt56):
		// positions repeat, and a connection made again at the flow's
		// first byte, which received nothing, must not pass for the
		// flow's own when the server acknowledged nearly 4 GiB, or 4 GiB
		// and more.
		{"a connection made again, the server's ACK 100 bytes short of 4 GiB", orders4, web4, connection, true, 0, madeAgainAfter(d, 1<<32-100, false), []outcome{passed, reset}},
		{"a connection made again, the server's ACK gone round 4 GiB", orders4, web4, connection, true, 0, madeAgainAfter(d, 0, true), []outcome{passed, reset}},
		// Not known: taken as in step.
		{"nothing found", orders4, web4, noSockets, true, 0, twoRequests, []outcome{passed, passed}},
		{"IPv6 link-local peer: its connection cannot be found", orders6, linkLocal, listenerOnly, true, 0, twoRequests, []outcome{passed, passed}},
		{"no namespace recorded for the interface", orders4, web4, listenerOnly, false, 0, twoRequests, []outcome{passed, passed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			podInterface1(t, d, c.dst.Addr(), c.recordNs, false)
			src := netip.AddrPortFrom(c.src, uint16(20000+nextPort.Add(1)%40000))
			before := d.reasonCount(t, ReasonServerConn)
			var got []outcome
			addrs := []netip.Addr{c.dst.Addr()}
			if c.sockets == connection {
				addrs = append(addrs, c.src)
			}
			inNewNetns(t, addrs, func() {
				fds, first := sockets(c.sockets, src, c.dst, 0)
				for _, fd := range fds {
					defer unix.Close(fd)
				}
				first -= c.shift
				if o, _ := runSegment(t, d.Ingress(), segment{src: src, dst: c.dst, seq: first - 1, flags: tcpSYN}); o != passed {
					panic(fmt.Sprintf("SYN: %v", o))
				}
				f := &flow{t: t, prog: d.Ingress(), src: src, dst: c.dst, seq: first, ack: 5000}
				f.synACK(first)
				got = c.run(f, first)
			})
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			refused := 0
			for _, o := range got {
				if o != passed {
					refused++
				}
			}
			// A segment of a reset flow counts flow_reset instead.
			if n := d.reasonCount(t, ReasonServerConn) - before; (n == 0) != (refused == 0) {
				t.Errorf("server_conn_mismatch counted %d times for %v", n, got)
			}
		})
	}
}

// anyoneReq is allowed from any source (the link-local one too).
const anyoneReq = "GET /static/site.css HTTP/1.1\r\nHost: orders\r\n\r\n"

// twoRequests sends two allowed requests, one segment each.
func twoRequests(f *flow, _ uint32) []outcome {
	return []outcome{f.send(anyoneReq), f.send(anyoneReq)}
}

// restartAtFirst sends an allowed request, has the server acknowledge it,
// then sends a shorter denied head at the flow's first byte.
func restartAtFirst(f *flow, first uint32) []outcome {
	o := f.send(anyoneReq)
	f.serverACK(f.seq)
	again, _ := f.sendAt(first, "GET /api/v1/admin HTTP/1.1\r\n\r\n")
	return []outcome{o, again}
}

// madeAgainAfter returns a run that sends an allowed request, has the
// server acknowledge it, then moves the flow's positions as if it had let
// through 4 GiB and the server had acknowledged acked bytes more than its
// first (modulo 2^32; ackWrapped: the ACK went round), and sends another
// allowed request at the flow's next byte, which is its first byte again:
// the server's socket there, which received nothing, is another
// connection.
func madeAgainAfter(d *Datapath, acked uint32, ackWrapped bool) func(f *flow, first uint32) []outcome {
	return func(f *flow, first uint32) []outcome {
		o := f.send(anyoneReq)
		f.serverACK(f.seq)
		d.editFlow(f.t, f, func(v *bpf.AxonAxFlow) {
			v.NextSeq, v.Wrapped = first, 1
			v.SrvAck = first + acked
			if ackWrapped {
				v.SrvWrapped |= swACK
			}
		})
		again, _ := f.sendAt(first, anyoneReq)
		return []outcome{o, again}
	}
}

// ackedThenMore sends an allowed request, has the server acknowledge it,
// then sends another.
func ackedThenMore(f *flow, _ uint32) []outcome {
	o := f.send(anyoneReq)
	f.serverACK(f.seq)
	return []outcome{o, f.send(anyoneReq)}
}

// TestClientReset: the server takes a RST at exactly its next byte, which
// lies between its last ACK and the flow's next byte, and in some states
// elsewhere (one byte before, after a FIN; anywhere in a TIME_WAIT
// socket's window). In that stretch, where the server may take it while
// bytes let through after it are on their way or were dropped by it, the
// RST is dropped and the flow stays; any other RST passes and the flow
// goes (later data is no_flow): no segment is let through for a
// connection the server may no longer hold, which a SYN cookie's ACK could
// open again (class 38).
func TestClientReset(t *testing.T) {
	d := gapTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		at        func(acked, next uint32) uint32
		rst, data outcome
	}{
		{"before the server's last ACK", func(acked, _ uint32) uint32 { return acked - 5 }, passed, reset},
		{"at the server's last ACK", func(acked, _ uint32) uint32 { return acked }, dropped, passed},
		{"between it and the flow's next byte", func(acked, _ uint32) uint32 { return acked + 3 }, dropped, passed},
		{"at the flow's next byte", func(_, next uint32) uint32 { return next }, passed, reset},
		{"past the flow's next byte", func(_, next uint32) uint32 { return next + 10 }, passed, reset},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFlow(t, d.Ingress(), web4, orders4)
			f.send("GET /api/v1/items HTTP/1.1\r\n")
			f.serverACK(f.seq)
			acked := f.seq
			if o := f.send("Host: orders\r\n"); o != passed {
				t.Fatalf("header line: %v", o)
			}
			if o, _ := runSegment(t, f.prog, segment{src: f.src, dst: f.dst, seq: c.at(acked, f.seq), flags: tcpRST}); o != c.rst {
				t.Fatalf("RST: %v, want %v", o, c.rst)
			}
			if o := f.send("\r\n"); o != c.data {
				t.Fatalf("data after the RST: %v, want %v", o, c.data)
			}
		})
	}
}
