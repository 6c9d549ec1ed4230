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
		k := flowKey(f)
		var v bpf.AxonAxFlow
		if err := d.objs.Flows.Lookup(k, &v); err != nil {
			t.Fatal(err)
		}
		v.BaseSeq = v.NextSeq - c.parsed
		if err := d.objs.Flows.Update(k, &v, 0); err != nil {
			t.Fatal(err)
		}
		if o := f.send(okReq); o != passed {
			t.Errorf("%s: a request: %v, want passed", c.name, o)
		}
		f.serverACK(f.seq)
		if err := d.objs.Flows.Lookup(k, &v); err != nil {
			t.Fatal(err)
		}
		if (v.Wrapped != 0) != c.wraps {
			t.Errorf("%s: wrapped %d, want %v", c.name, v.Wrapped, c.wraps)
		}
		ifindex = v.Ifindex
		// The server's socket: exactly the bytes the flow let through,
		// modulo 2^32 (for the wrapped flow, what a socket made again on
		// the same 4-tuple behind Axon's back would say).
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
