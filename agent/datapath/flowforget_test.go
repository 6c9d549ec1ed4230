package datapath

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
)

// TestUnpolicedEndpointForgetsFlows (red team rt30): while an endpoint is
// not policed the programs never look at its flows, so the server takes
// bytes a flow never saw. Apply forgets the flows of endpoints the new
// table does not police: when the endpoint is policed again, such a
// connection's next data is refused (no_flow) instead of being parsed from
// a stale position. Flows of endpoints still policed are kept.
func TestUnpolicedEndpointForgetsFlows(t *testing.T) {
	d := sharedTest(t)
	full := fixtureTable(t)
	withoutOrders := compileFS(t, map[string]string{
		"namespaces.yaml": fixtureNamespaces,
		"pods.yaml":       fixturePods,
		"legacy.yaml":     fixtureLegacy,
	})
	if err := d.Apply(full); err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, d.Ingress(), web4, orders4)
	if o := f.send(okReq); o != passed {
		t.Fatalf("allowed request: %v", o)
	}
	kept := newFlow(t, d.Ingress(), web4, orders4)
	if err := d.Apply(full); err != nil {
		t.Fatal(err)
	}
	if !d.hasFlow(t, kept) {
		t.Fatal("a flow of an endpoint the new table still polices was forgotten")
	}
	if err := d.Apply(withoutOrders); err != nil {
		t.Fatal(err)
	}
	if d.hasFlow(t, f) || d.hasFlow(t, kept) {
		t.Fatal("flows of an endpoint the table in force does not police were kept")
	}
	if err := d.Apply(full); err != nil {
		t.Fatal(err)
	}
	countsOne(t, d, "no_flow", func() {
		if o := f.send(okReq); o != reset {
			t.Fatalf("the connection's next request once policed again: %v, want reset", o)
		}
	})
	if o := newFlow(t, d.Ingress(), web4, orders4).send(okReq); o != passed {
		t.Fatalf("a new connection: %v, want passed", o)
	}
}

// TestForgetFlowsOn: the flows recorded on one interface (one whose
// programs were detached for a while) are deleted, others kept.
func TestForgetFlowsOn(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, d.Ingress(), web4, orders4)
	var v bpf.AxonAxFlow
	if err := d.objs.Flows.Lookup(flowKey(f), &v); err != nil {
		t.Fatal(err)
	}
	if n, err := d.ForgetFlowsOn(v.Ifindex + 1); err != nil || !d.hasFlow(t, f) {
		t.Fatalf("another interface's flows forgotten (%d, %v): the flow is gone", n, err)
	}
	if n, err := d.ForgetFlowsOn(v.Ifindex); err != nil || n < 1 || d.hasFlow(t, f) {
		t.Fatalf("forgetting the interface's flows: %d, %v; flow kept: %v", n, err, d.hasFlow(t, f))
	}
	if o := f.send(okReq); o != reset {
		t.Fatalf("the connection's next request: %v, want reset (no_flow)", o)
	}
}

// hasFlow reports whether the flow table holds test flow f.
func (d *Datapath) hasFlow(t testing.TB, f *flow) bool {
	t.Helper()
	var v bpf.AxonAxFlow
	err := d.objs.Flows.Lookup(flowKey(f), &v)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// countsOne runs do and checks that it counted one drop for reason.
func countsOne(t *testing.T, d *Datapath, reason string, do func()) {
	t.Helper()
	before, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	do()
	after, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if after.Reasons[reason] != before.Reasons[reason]+1 {
		t.Errorf("%s: %d -> %d, want +1", reason, before.Reasons[reason], after.Reasons[reason])
	}
}

// TestForgetUnverifiedFlowsOn: a restarted agent keeps the flows of an
// interface whose pinned programs stayed attached only where the server's
// socket has received exactly the client bytes the flow let through, and
// the server acknowledged them all; a socket that holds more (bytes that
// passed unseen, also 4 GiB more, where the flow's 32-bit positions wrap)
// or none found makes the flow go; bytes not acknowledged
// (in flight, or a copy the server dropped) keep it pending until the last
// time it is asked. A flow born after the sockets were listed, which the
// list cannot name, is kept. Other interfaces' flows are not looked at.
func TestForgetUnverifiedFlowsOn(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	idle := newFlow(t, d.Ingress(), web4, orders4)
	served := newFlow(t, d.Ingress(), web4, orders4)
	if o := served.send(okReq); o != passed {
		t.Fatalf("allowed request: %v", o)
	}
	served.serverACK(served.seq)
	unacked := newFlow(t, d.Ingress(), web4, orders4)
	if o := unacked.send(okReq); o != passed {
		t.Fatalf("allowed request: %v", o)
	}
	ahead := newFlow(t, d.Ingress(), web4, orders4)
	gone := newFlow(t, d.Ingress(), web4, orders4)
	wrapped := newFlow(t, d.Ingress(), web4, orders4)
	listed, err := Monotonic()
	if err != nil {
		t.Fatal(err)
	}
	late := newFlow(t, d.Ingress(), web4, orders4) // born after the sockets were listed
	client := func(f *flow) netip.AddrPort {
		k := flowKey(f)
		return netip.AddrPortFrom(netip.AddrFrom16(k.Saddr), k.Sport)
	}
	// What the servers' sockets say they received.
	got := map[netip.AddrPort]uint64{
		client(idle):    0,
		client(served):  uint64(len(okReq)),
		client(unacked): uint64(len(okReq)),
		client(ahead):   1,       // a byte the flow never let through
		client(wrapped): 1 << 32, // as many bytes as the flow let through, modulo 2^32
	}
	received := func(c, _ netip.AddrPort) (uint64, bool) {
		n, ok := got[c]
		return n, ok
	}
	var v bpf.AxonAxFlow
	if err := d.objs.Flows.Lookup(flowKey(idle), &v); err != nil {
		t.Fatal(err)
	}
	if n, p, err := d.ForgetUnverifiedFlowsOn(v.Ifindex+1, received, listed, true); err != nil || n != 0 || p != 0 {
		t.Fatalf("another interface's flows: %d forgotten, %d pending, %v", n, p, err)
	}
	// The unacknowledged bytes may be in flight: asked again, kept.
	if n, p, err := d.ForgetUnverifiedFlowsOn(v.Ifindex, received, listed, false); err != nil || n != 3 || p != 1 || !d.hasFlow(t, unacked) {
		t.Fatalf("checking the interface's flows: %d forgotten (want 3), %d pending (want 1), %v; the unacknowledged one kept: %v", n, p, err, d.hasFlow(t, unacked))
	}
	if n, p, err := d.ForgetUnverifiedFlowsOn(v.Ifindex, received, listed, true); err != nil || n != 1 || p != 0 {
		t.Fatalf("asking the last time: %d forgotten (want 1), %d pending, %v", n, p, err)
	}
	for name, f := range map[string]*flow{"idle": idle, "served": served, "late": late} {
		if !d.hasFlow(t, f) {
			t.Errorf("the %s flow, which its server's socket vouches for, was forgotten", name)
		}
	}
	for name, f := range map[string]*flow{"unacked": unacked, "ahead": ahead, "gone": gone, "wrapped": wrapped} {
		if d.hasFlow(t, f) {
			t.Errorf("the %s flow was kept", name)
		}
	}
	if o := served.send(okReq); o != passed {
		t.Errorf("the next request of a kept connection: %v, want passed", o)
	}
	if o := ahead.send(okReq); o != reset {
		t.Errorf("the next request of a forgotten connection: %v, want reset (no_flow)", o)
	}
}
