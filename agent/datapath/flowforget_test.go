package datapath

import (
	"errors"
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
