package datapath

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
)

// TestAuditGapRefusedUnderEnforce (class 34): while an endpoint is
// Audit-only, frames the datapath does not parse into a flow pass (rule-1
// frames, a spoofed source, a copy racing another CPU's). The server may
// have taken their bytes in place of the ones its flows parsed, so once the
// endpoint is enforced, a flow that was open then is refused (no_flow);
// flows of other endpoints are not (TestAuditFlowWithoutGapKept: nor flows
// opened after the gap).
func TestAuditGapRefusedUnderEnforce(t *testing.T) {
	d := gapTest(t)
	audit, enforced := legacyTables(t)
	data := func(f *flow, payload string) segment {
		return segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpACK | tcpPSH, payload: []byte(payload)}
	}
	mustPass := func(t *testing.T, what string, o outcome) {
		t.Helper()
		if o != passed {
			t.Fatalf("%s on an Audit-only endpoint: %v, want passed", what, o)
		}
	}
	cases := []struct {
		name string
		// gap lets something unparsed through to legacy while it is
		// Audit-only; victim is a connection to legacy open then.
		gap func(t *testing.T, victim *flow)
		// otherEndpoints: flows of orders (always enforced) open at the
		// gap keep working (false where the test's one interface is the
		// pod interface the gap is recorded on).
		otherEndpoints bool
	}{
		{"IPv4 fragments", func(t *testing.T, v *flow) {
			whole := data(v, "GET /admin HTTP/1.1\r\nX: ").bytes()
			mustPass(t, "a first fragment", runRaw(t, d.Ingress(), ipv4Fragment(whole, 0, true, 24)))
			mustPass(t, "a later fragment", runRaw(t, d.Ingress(), ipv4Fragment(whole, 3, false, 8)))
		}, true},
		{"two VLAN priority tags", func(t *testing.T, v *flow) {
			mustPass(t, "a tagged frame", runRaw(t, d.Ingress(), withVLAN(data(v, "GET /admin HTTP/1.1\r\nX: ").bytes(), 0x8100, 0x8100)))
		}, true},
		{"a fragment through the pod's interface, to another address", func(t *testing.T, v *flow) {
			if err := d.SetPodInterface(PodInterface{Ifindex: 1, Addrs: []netip.Addr{legacy.Addr()}}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.DeletePodInterface(1) })
			for _, a := range []string{"10.9.9.9", "10.9.9.10"} {
				other := segment{src: v.src, dst: netip.AddrPortFrom(netip.MustParseAddr(a), legacy.Port()), seq: v.seq, ack: v.ack,
					flags: tcpACK | tcpPSH, payload: []byte("GET /admin HTTP/1.1\r\nX: ")}
				mustPass(t, "a fragment", runRaw(t, d.Ingress(), ipv4Fragment(other.bytes(), 0, true, 24)))
			}
			// Made-up addresses are not keys: the map would fill.
			if keys := gapKeys(t, d); len(keys) != 1 || keys[0] != (bpf.AxonAxGapKey{Ifindex: 1}) {
				t.Fatalf("audit gaps recorded: %+v, want one, of interface 1", keys)
			}
		}, false},
		{"a spoofed source", func(t *testing.T, v *flow) {
			other := otherDevice(t)
			if err := d.SetPodInterface(PodInterface{Ifindex: other, Addrs: []netip.Addr{web4}}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.DeletePodInterface(other) })
			spoof := segment{src: netip.AddrPortFrom(web4, v.src.Port()), dst: v.dst, seq: v.seq, ack: v.ack,
				flags: tcpACK | tcpPSH, payload: []byte("GET /admin HTTP/1.1\r\nX: ")}
			mustPass(t, "web's address through another interface", runWithIngress(t, d.Ingress(), spoof.bytes(), 1))
		}, true},
		{"a connection whose start was not seen", func(t *testing.T, v *flow) {
			mid := segment{src: netip.AddrPortFrom(batch, 19998), dst: v.dst, seq: 7, ack: 9, flags: tcpACK | tcpPSH, payload: []byte("GET /admin HTTP/1.1\r\nX: ")}
			mustPass(t, "data without a flow", runRaw(t, d.Ingress(), mid.bytes()))
		}, true},
		{"a copy racing another CPU's", func(t *testing.T, v *flow) {
			setBusy(t, d, v, 1)
			o, _ := v.sendAt(v.seq, "GET /admin HTTP/1.1\r\nX: ")
			setBusy(t, d, v, 0)
			mustPass(t, "a copy while the flow is claimed", o)
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearGaps(t, d)
			if err := d.Apply(audit); err != nil {
				t.Fatal(err)
			}
			victim := newFlow(t, d.Ingress(), batch, legacy)
			mustPass(t, "an allowed request", victim.send(legacyOK))
			orders := newFlow(t, d.Ingress(), web4, orders4)
			if o := orders.send(okReq); o != passed {
				t.Fatalf("an allowed request to orders: %v, want passed", o)
			}
			c.gap(t, victim)
			mustPass(t, "the victim's next request, after the gap", victim.send(legacyOK))
			if err := d.Apply(enforced); err != nil {
				t.Fatal(err)
			}
			countsOne(t, d, "no_flow", func() {
				if o := victim.send(legacyOK); o != reset {
					t.Fatalf("a connection open at the gap, once enforced: %v, want reset (no_flow)", o)
				}
			})
			if c.otherEndpoints {
				if o := orders.send(okReq); o != passed {
					t.Errorf("orders (always enforced), open at the gap: %v, want passed", o)
				}
			}
		})
	}
}

// TestAuditFlowWithoutGapKept: a connection open while its endpoint was
// Audit-only, with no gap, goes on under Enforce (switching a policy to
// Enforce breaks no connection), and a gap long before a connection's start
// does not count against it.
func TestAuditFlowWithoutGapKept(t *testing.T) {
	d := gapTest(t)
	audit, enforced := legacyTables(t)
	if err := d.Apply(audit); err != nil {
		t.Fatal(err)
	}
	early := newFlow(t, d.Ingress(), batch, legacy)
	whole := segment{src: early.src, dst: early.dst, seq: early.seq, ack: early.ack, flags: tcpACK | tcpPSH, payload: []byte(legacyOK)}.bytes()
	if o := runRaw(t, d.Ingress(), ipv4Fragment(whole, 0, true, 24)); o != passed {
		t.Fatalf("a fragment on an Audit-only endpoint: %v, want passed", o)
	}
	time.Sleep(time.Second + 100*time.Millisecond) // past the slack (WithGapSlack)
	late := newFlow(t, d.Ingress(), batch, legacy)
	if o := late.send(legacyOK); o != passed {
		t.Fatal(o)
	}
	if err := d.Apply(enforced); err != nil {
		t.Fatal(err)
	}
	if o := late.send(legacyOK); o != passed {
		t.Fatalf("a connection opened after the gap, once enforced: %v, want passed", o)
	}
	if o := late.send("GET /admin HTTP/1.1\r\n\r\n"); o != reset {
		t.Fatalf("a denied request on it: %v, want reset", o)
	}
	if o := early.send(legacyOK); o != reset {
		t.Fatalf("the connection open at the gap: %v, want reset", o)
	}
}

// TestAuditGapDefaultSlack: by default a connection that starts within
// DefaultGapSlack after a gap counts as open at it (a server in SYN_RECV
// that took the data of a fragmented SYN resends its SYN-ACK for a minute).
func TestAuditGapDefaultSlack(t *testing.T) {
	d := sharedTest(t) // opened with the default slack
	clearGaps(t, d)
	t.Cleanup(func() { clearGaps(t, d) })
	audit, enforced := legacyTables(t)
	if err := d.Apply(audit); err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, d.Ingress(), batch, legacy)
	whole := segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpACK | tcpPSH, payload: []byte(legacyOK)}.bytes()
	if o := runRaw(t, d.Ingress(), ipv4Fragment(whole, 0, true, 24)); o != passed {
		t.Fatalf("a fragment on an Audit-only endpoint: %v, want passed", o)
	}
	time.Sleep(time.Second + 100*time.Millisecond)
	late := newFlow(t, d.Ingress(), batch, legacy)
	if err := d.Apply(enforced); err != nil {
		t.Fatal(err)
	}
	if o := late.send(legacyOK); o != reset {
		t.Fatalf("a connection that started 1 s after the gap, once enforced: %v, want reset", o)
	}
}

// legacyOK is a request legacy's policy allows.
const legacyOK = "GET /ok HTTP/1.1\r\nHost: legacy\r\n\r\n"

// legacyTables are the fixture's orders (enforced) and legacy policies, with
// legacy Audit-only, then enforced.
func legacyTables(t *testing.T) (audit, enforced *table.Table) {
	t.Helper()
	fs := map[string]string{"namespaces.yaml": fixtureNamespaces, "pods.yaml": fixturePods,
		"orders.yaml": fixtureOrders, "legacy.yaml": fixtureLegacy}
	audit = compileFS(t, fs)
	fs["legacy.yaml"] = strings.Replace(fixtureLegacy, "mode: Audit", "mode: Enforce", 1)
	return audit, compileFS(t, fs)
}

var gapDP sharedDatapath

// gapTest returns a datapath shared by the audit-gap tests, with a 1 s gap
// slack and no audit gaps recorded.
func gapTest(t *testing.T) *Datapath {
	d := gapDP.get(t, WithoutClientReset(), testSides, WithMaxFlows(1024), WithGapSlack(time.Second))
	clearGaps(t, d)
	return d
}

// gapKeys lists the destinations audit gaps were recorded for.
func gapKeys(t *testing.T, d *Datapath) []bpf.AxonAxGapKey {
	t.Helper()
	var keys []bpf.AxonAxGapKey
	var k bpf.AxonAxGapKey
	var ns uint64
	it := d.objs.AuditGaps.Iterate()
	for it.Next(&k, &ns) {
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// clearGaps forgets the audit gaps recorded so far (each case starts
// without any).
func clearGaps(t *testing.T, d *Datapath) {
	t.Helper()
	for _, k := range gapKeys(t, d) {
		if err := d.objs.AuditGaps.Delete(&k); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.objs.AuditGapClock.Put(uint32(0), bpf.AxonAxGapClock{}); err != nil {
		t.Fatal(err)
	}
}

// setBusy marks test flow f claimed by a CPU (1) or not (0), as a segment
// being parsed on another CPU does.
func setBusy(t *testing.T, d *Datapath, f *flow, busy uint8) {
	t.Helper()
	d.editFlow(t, f, func(v *bpf.AxonAxFlow) { v.Busy = busy })
}

// runWithIngress runs prog on a frame that came in through interface iif
// (__sk_buff.ingress_ifindex) and says whether it passed unchanged.
func runWithIngress(t *testing.T, prog *ebpf.Program, in []byte, iif uint32) outcome {
	t.Helper()
	ctx := make([]byte, 192)
	binary.LittleEndian.PutUint32(ctx[36:], iif) // ingress_ifindex
	binary.LittleEndian.PutUint32(ctx[40:], 1)   // ifindex
	out := make([]byte, len(in)+64)
	ret, err := prog.Run(&ebpf.RunOptions{Data: in, DataOut: out, Context: ctx})
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("BPF_PROG_TEST_RUN on this kernel does not take ingress_ifindex in the context: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case ret == 2:
		return dropped
	case ret == 0 && string(out[:len(in)]) == string(in):
		return passed
	}
	return changed
}

// TestSynAckKeepsAuditHistory: a SYN-ACK that replaces a flow may be the
// same connection's again (a server in SYN_RECV resends it), so the new
// flow keeps what Audit could not follow of the old one: its birth before
// a gap, and a stream Audit gave up. And data in a SYN, which such a
// server would hold, is dropped on Audit-only endpoints too.
func TestSynAckKeepsAuditHistory(t *testing.T) {
	d := gapTest(t)
	audit, enforced := legacyTables(t)
	if err := d.Apply(audit); err != nil {
		t.Fatal(err)
	}
	gapped := newFlow(t, d.Ingress(), batch, legacy)
	whole := segment{src: gapped.src, dst: gapped.dst, seq: gapped.seq, ack: gapped.ack, flags: tcpACK | tcpPSH, payload: []byte("GET /admin HTTP/1.1\r\nX: ")}.bytes()
	if o := runRaw(t, d.Ingress(), ipv4Fragment(whole, 0, true, 24)); o != passed {
		t.Fatalf("a fragment on an Audit-only endpoint: %v, want passed", o)
	}
	// Data in a SYN is dropped on Audit-only endpoints too (a server in
	// SYN_RECV holding it resends its SYN-ACK).
	countsOne(t, d, "syn_data", func() {
		syn := segment{src: netip.AddrPortFrom(batch, 19999), dst: legacy, seq: 7, flags: tcpSYN, payload: []byte("GET /admin HTTP/1.1\r\nX: ")}
		if o := runRaw(t, d.Ingress(), syn.bytes()); o != dropped {
			t.Fatalf("SYN data on an Audit-only endpoint: %v, want dropped", o)
		}
	})
	givenUp := newFlow(t, d.Ingress(), batch, legacy)
	if o, _ := runSegment(t, d.Ingress(), segment{src: givenUp.src, dst: givenUp.dst, seq: givenUp.seq, ack: givenUp.ack, flags: tcpPSH, payload: []byte("\r\n")}); o != passed {
		t.Fatalf("data without ACK on an Audit-only endpoint: %v, want passed", o)
	}
	time.Sleep(time.Second + 100*time.Millisecond) // past the slack (WithGapSlack)
	for _, f := range []*flow{gapped, givenUp} {
		if o := f.send("\r\n"); o != passed {
			t.Fatal(o)
		}
		// The server's SYN-ACK again (its stream still starts where it
		// did): the flow is replaced, and the client goes on from there.
		f.seq -= 2
		f.synACK(f.seq)
	}
	if err := d.Apply(enforced); err != nil {
		t.Fatal(err)
	}
	if o := gapped.send("\r\n\r\n"); o != reset {
		t.Errorf("a flow open at a gap, replaced by a SYN-ACK after the slack, once enforced: %v, want reset", o)
	}
	if o := givenUp.send("\r\n\r\n"); o != reset {
		t.Errorf("a flow Audit gave up, replaced by a SYN-ACK, once enforced: %v, want reset", o)
	}
	fresh := newFlow(t, d.Ingress(), batch, legacy)
	if o := fresh.send(legacyOK); o != passed {
		t.Errorf("a new connection: %v, want passed", o)
	}
}

// TestSynAckAnswersNoSyn: a flow starts in step with the server only from
// a SYN-ACK that answers a data-less SYN the program let through on that
// device; any other (a SYN sent in fragments or while nothing policed the
// endpoint, fast-open data the server took) makes a flow the enforced
// endpoint refuses.
func TestSynAckAnswersNoSyn(t *testing.T) {
	d := gapTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	start := func(src netip.AddrPort, isn uint32, synSent bool, ack uint32) *flow {
		f := &flow{t: t, prog: d.Ingress(), src: src, dst: orders4, seq: ack, ack: 5000}
		if synSent {
			if o, _ := runSegment(t, d.Ingress(), segment{src: src, dst: orders4, seq: isn, flags: tcpSYN}); o != passed {
				t.Fatalf("SYN: %v", o)
			}
		}
		f.synACK(ack)
		return f
	}
	cases := []struct {
		name    string
		synSent bool
		ackMore uint32 // acknowledged beyond ISN + 1
		want    outcome
	}{
		{"a SYN-ACK answering the SYN", true, 0, passed},
		{"a SYN-ACK answering no SYN seen here", false, 0, reset},
		{"a SYN-ACK acknowledging fast-open data", true, 24, reset},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := netip.AddrPortFrom(web4, uint16(20000+nextPort.Add(1)%40000))
			f := start(src, 700, c.synSent, 701+c.ackMore)
			if o := f.send(okReq); o != c.want {
				t.Fatalf("an allowed request: %v, want %v", o, c.want)
			}
		})
	}
}
