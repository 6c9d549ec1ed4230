package datapath

import (
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/axon-dev/axon/policy/table"
	"github.com/axon-dev/axon/test/netns"
	"github.com/cilium/ebpf"
)

// testSides: the tests that run packets through the program use Ingress
// only, and the kernel verifies each loaded program (most of Open's time,
// and of the kernel matrix's); the netns tests load both.
var testSides = WithClientSides(IngressSide)

// openTest opens a datapath of its own for a test (no client RSTs, Ingress
// only).
func openTest(t testing.TB, opts ...Option) *Datapath {
	t.Helper()
	netns.RequireRoot(t)
	d, err := Open(append([]Option{WithoutClientReset(), testSides}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	registerReply(d)
	return d
}

// sharedDatapath is a datapath opened once and shared by a group of tests
// (loading and verifying the program is the slow part on emulated kernels).
// Tests run one at a time.
type sharedDatapath struct {
	once sync.Once
	d    *Datapath
	err  error
}

// get opens the datapath with opts the first time it is asked for.
func (s *sharedDatapath) get(t testing.TB, opts ...Option) *Datapath {
	t.Helper()
	netns.RequireRoot(t)
	s.once.Do(func() { s.d, s.err = Open(opts...) })
	if s.err != nil {
		t.Fatal(s.err)
	}
	registerReply(s.d)
	return s.d
}

var sharedDP, podDP sharedDatapath

// sharedTest returns a datapath shared by the tests that only Apply tables
// and look at deltas. Each applies its own table.
func sharedTest(t testing.TB) *Datapath {
	return sharedDP.get(t, WithoutClientReset(), testSides, WithEventRate(1<<20), WithMaxFlows(1<<18))
}

// podTest returns a datapath (1024 flows) shared by the tests that record
// pod interfaces, leave audit gaps or claim flows. Each finds it as a fresh
// one: no flow, SYN record, pod interface or audit gap of the test before.
// Counters carry over: tests read deltas.
func podTest(t *testing.T) *Datapath {
	d := podDP.get(t, WithoutClientReset(), testSides, WithMaxFlows(1024))
	for _, m := range []*ebpf.Map{d.objs.Flows, d.objs.Syns, d.objs.Ifaces, d.objs.PodIfindex} {
		emptyMap(t, m)
	}
	clearGaps(t, d)
	return d
}

// emptyMap deletes every entry of hash map m.
func emptyMap(t *testing.T, m *ebpf.Map) {
	t.Helper()
	var keys [][]byte
	var cur any
	for {
		next := make([]byte, m.KeySize())
		if err := m.NextKey(cur, next); errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		keys, cur = append(keys, next), next
	}
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			t.Fatal(err)
		}
	}
}

// setTrieLens sets the most prefix lengths of a trie in path_hash for the
// next Apply (0: every request decided by the paths trie), and back to the
// default when t ends.
func (d *Datapath) setTrieLens(t testing.TB, n int) {
	d.mu.Lock()
	d.trieLens = n
	d.mu.Unlock()
	t.Cleanup(func() {
		d.mu.Lock()
		d.trieLens = maxTrieLens
		d.mu.Unlock()
	})
}

var (
	server = netip.MustParseAddrPort("10.0.0.2:8080")
	client = netip.MustParseAddr("10.0.0.1")
)

// oneRuleTable: allow GET /ok on server, default deny (rule 2).
func oneRuleTable() *table.Table {
	return &table.Table{
		Rules: []table.Rule{
			{ID: 1, Namespace: "ns", Policy: "p", Index: 0, Action: table.ActionAllow},
			{ID: 2, Namespace: "ns", Policy: "p", Index: -1, Action: table.ActionDeny},
		},
		Methods: []table.Method{{Name: "GET", ID: 1}},
		Endpoints: []table.Endpoint{{
			ID: 1, Addr: server.Addr(), Port: server.Port(), Enforce: true,
			EnforceDefault: table.Verdict{Action: table.ActionDeny, Rule: 2},
			FullDefault:    table.Verdict{Action: table.ActionDeny, Rule: 2},
		}},
		Paths: []table.PathRow{{Endpoint: 1, Class: 0, Method: 1, Prefix: "/ok\x00", Enforce: table.Match{Allow: 1}}},
	}
}

func TestMinimalAllowDeny(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(oneRuleTable()); err != nil {
		t.Fatal(err)
	}
	c0, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, d.Ingress(), client, server)
	if o := f.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"); o != passed {
		t.Fatalf("GET /ok: %v", o)
	}
	if o := f.send("GET /no HTTP/1.1\r\nHost: x\r\n\r\n"); o != reset {
		t.Fatalf("GET /no: %v", o)
	}
	c, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []RuleVerdict{{1, VerdictAllow}, {2, VerdictDeny}} {
		if c.Rules[k] != c0.Rules[k]+1 {
			t.Fatalf("counter %v: %d -> %d, want +1", k, c0.Rules[k], c.Rules[k])
		}
	}
}

// TestBatchCountersMatchLookups: the batched read of the per-rule counters
// gives what one lookup per counter gives.
func TestBatchCountersMatchLookups(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(oneRuleTable()); err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, d.Ingress(), client, server)
	f.send("GET /ok HTTP/1.1\r\n\r\n")
	f.send("GET /no HTTP/1.1\r\n\r\n")
	const limit = 64
	batch := map[uint32]uint64{}
	if err := d.batchRuleStats(limit, func(idx uint32, per []uint64) {
		if idx < limit {
			batch[idx] = sum(per)
		}
	}); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			t.Skipf("batch lookups not supported by this kernel (Counters falls back to lookups): %v", err)
		}
		t.Fatalf("batch lookup: %v", err)
	}
	var per []uint64
	for idx := uint32(0); idx < limit; idx++ {
		if err := d.objs.RuleStats.Lookup(idx, &per); err != nil {
			t.Fatal(err)
		}
		if sum(per) != batch[idx] {
			t.Errorf("counter %d: batch %d, lookup %d", idx, batch[idx], sum(per))
		}
	}
	if batch[1*4+uint32(VerdictAllow)] == 0 || batch[2*4+uint32(VerdictDeny)] == 0 {
		t.Errorf("requests not counted: %v", batch)
	}
}
