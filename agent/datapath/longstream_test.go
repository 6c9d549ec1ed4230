package datapath

import (
	"net/netip"
	"testing"

	"github.com/axon-dev/axon/bpf"
)

// TestLongStreams: a flow goes on parsing once more than 2 GiB have gone
// through it (a signed distance from its first byte turned negative there,
// and every later segment was discarded: a large upload stalled) and once
// its positions go round at 4 GiB, which it notes; the restart check keeps
// the first when its server's socket vouches for it and never vouches for
// the second. The gigabytes are simulated by moving the flow's first byte
// back in its map entry.
func TestLongStreams(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		parsed uint32 // bytes the flow has let through, modulo 2^32
		wraps  bool
	}{
		{"past 2 GiB", 1<<31 + 100, false},
		{"round 4 GiB", 1<<32 - 10, true},
	}
	flows := make([]*flow, len(cases))
	got := map[netip.AddrPort]uint64{}
	var ifindex uint32
	for i, c := range cases {
		f := newFlow(t, d.Ingress(), web4, orders4)
		flows[i] = f
		if o := f.send(okReq); o != passed {
			t.Fatalf("%s: first request: %v", c.name, o)
		}
		f.serverACK(f.seq)
		d.editFlow(t, f, func(v *bpf.AxonAxFlow) { v.BaseSeq = v.NextSeq - c.parsed })
		if o := f.send(okReq); o != passed {
			t.Errorf("%s: a request: %v, want passed", c.name, o)
		}
		f.serverACK(f.seq)
		v := d.flowEntry(t, f)
		if (v.Wrapped != 0) != c.wraps {
			t.Errorf("%s: wrapped %d, want %v", c.name, v.Wrapped, c.wraps)
		}
		// The server's ACK of those bytes went round with them.
		if (v.SrvWrapped&swACK != 0) != c.wraps {
			t.Errorf("%s: the server's ACK wrapped: %v, want %v", c.name, v.SrvWrapped&swACK != 0, c.wraps)
		}
		ifindex = v.Ifindex
		// The server's socket: exactly the bytes the flow let through,
		// modulo 2^32 (for the wrapped flow, what a socket made again on
		// the same 4-tuple behind Axon's back would say).
		k := flowKey(f)
		got[netip.AddrPortFrom(netip.AddrFrom16(k.Saddr), k.Sport)] = uint64(v.NextSeq - v.BaseSeq)
	}
	listed, err := Monotonic()
	if err != nil {
		t.Fatal(err)
	}
	received := func(c, _ netip.AddrPort) (uint64, bool) {
		n, ok := got[c]
		return n, ok
	}
	if _, _, err := d.ForgetUnverifiedFlowsOn(ifindex, received, listed, true); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if kept := d.hasFlow(t, flows[i]); kept == c.wraps {
			t.Errorf("%s: kept by the restart check: %v, want %v", c.name, kept, !c.wraps)
		}
	}
	if o := flows[0].send(okReq); o != passed {
		t.Errorf("the next request of the kept flow: %v, want passed", o)
	}
}

// srv_wrapped's bits (AX_SW_* in bpf/include/flow_state.h).
const (
	swACK = 0x01
	swNXT = 0x02
)

// TestLongServerStreams: client requests go on being let through after the
// server has sent more than 2 GiB (their ACKs, measured as a signed
// distance from the server's first byte, were refused as desync: every
// request after a large download was reset) and after its stream went round
// at 4 GiB, which the flow notes; a client segment further than any TCP
// window past what the server acknowledged is not let through. The
// gigabytes are simulated by moving the server's initial sequence number
// back in the flow's map entry.
func TestLongServerStreams(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	for _, c := range []struct {
		name  string
		sent  uint32 // server bytes before the response, modulo 2^32
		wraps bool
	}{
		{"past 2 GiB", 1<<31 + 100, false},
		{"round 4 GiB", 1<<32 - 10, true},
	} {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send(okReq); o != passed {
			t.Fatalf("%s: first request: %v", c.name, o)
		}
		d.editFlow(t, f, func(v *bpf.AxonAxFlow) { v.SrvIsn = v.SrvNxt - 1 - c.sent })
		f.reply(f.ack, f.seq, tcpACK|tcpPSH, resp)
		f.ack += uint32(len(resp))
		v := d.flowEntry(t, f)
		if (v.SrvWrapped&swNXT != 0) != c.wraps {
			t.Errorf("%s: the server's stream wrapped: %v, want %v", c.name, v.SrvWrapped&swNXT != 0, c.wraps)
		}
		if o := f.send(okReq); o != passed {
			t.Errorf("%s: the next request, acknowledging the response: %v, want passed", c.name, o)
		}
	}
	// A client segment whose end is more than 2^30 bytes past the
	// server's last ACK.
	f := newFlow(t, d.Ingress(), web4, orders4)
	if o := f.send(okReq); o != passed {
		t.Fatalf("first request: %v", o)
	}
	f.serverACK(f.seq)
	d.editFlow(t, f, func(v *bpf.AxonAxFlow) {
		v.BaseSeq -= 1 << 30
		v.SrvAck -= 1 << 30
	})
	if o := f.send(okReq); o == passed {
		t.Error("a request beyond any window past the server's ACK: passed")
	}
}
