package datapath

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/axon-dev/axon/policy/table"
	"github.com/axon-dev/axon/test/netns"
)

// flipTable is an endpoint with its own ID whose GET /x is decided by rule
// ruleX, anything else by default rule ruleDef (deny).
func flipTable(epID uint32, xAction table.Action, ruleX, ruleDef table.RuleID) *table.Table {
	m := table.Match{}
	if xAction == table.ActionAllow {
		m.Allow = ruleX
	} else {
		m.Deny = ruleX
	}
	return &table.Table{
		Rules:   []table.Rule{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}},
		Methods: []table.Method{{Name: "GET", ID: 1}},
		Endpoints: []table.Endpoint{{
			ID: epID, Addr: server.Addr(), Port: server.Port(), Enforce: true,
			EnforceDefault: table.Verdict{Action: table.ActionDeny, Rule: ruleDef},
			FullDefault:    table.Verdict{Action: table.ActionDeny, Rule: ruleDef},
		}},
		Classes: []table.SourceClass{{Endpoint: epID, Identity: table.IdentityWorld, Class: uint16(epID)}},
		Paths:   []table.PathRow{{Endpoint: epID, Class: uint16(epID), Method: 1, Prefix: "/x\x00", Enforce: m}},
	}
}

// TestApplyIsAtomic flips between two tables while requests run on other
// goroutines. The tables differ in endpoint ID, class and rows, so a packet
// that saw parts of both would find no row and be counted against a default
// rule. Every request must be decided wholly by one table.
func TestApplyIsAtomic(t *testing.T) {
	d := sharedTest(t)
	a := flipTable(1, table.ActionAllow, 1, 3)
	b := flipTable(2, table.ActionDeny, 2, 4)
	if err := d.Apply(a); err != nil {
		t.Fatal(err)
	}
	c0, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var runs atomic.Int64
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				f := newFlow(t, d.Ingress(), client, server)
				if o := f.send("GET /x HTTP/1.1\r\n\r\n"); o != passed && o != reset {
					t.Errorf("outcome %v", o)
					return
				}
				runs.Add(1)
			}
		}()
	}
	flips := 200
	if testing.Short() {
		flips = 40
	}
	for i := 0; i < flips; i++ {
		tab := a
		if i%2 == 0 {
			tab = b
		}
		if err := d.Apply(tab); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	c, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c0.Rules {
		c.Rules[k] -= v
	}
	if n := c.Rules[RuleVerdict{3, VerdictDeny}] + c.Rules[RuleVerdict{4, VerdictDeny}]; n != 0 {
		t.Fatalf("%d requests saw a mix of two tables (counters %v)", n, c.Rules)
	}
	if c.Rules[RuleVerdict{1, VerdictAllow}] == 0 || c.Rules[RuleVerdict{2, VerdictDeny}] == 0 {
		t.Fatalf("both tables should have decided some of the %d requests: %v", runs.Load(), c.Rules)
	}
}

// TestApplyWritesDiffs: each Apply writes only what differs from what the
// target generation held.
func TestApplyWritesDiffs(t *testing.T) {
	d := sharedTest(t)
	a, b := fixtureTable(t), oneRuleTable()
	if _, err := d.ApplyStats(a); err != nil { // generation X
		t.Fatal(err)
	}
	if _, err := d.ApplyStats(b); err != nil { // generation Y
		t.Fatal(err)
	}
	s1, err := d.ApplyStats(a) // X again, which holds a already
	if err != nil {
		t.Fatal(err)
	}
	if s1.Updated != 0 || s1.Deleted != 0 {
		t.Fatalf("re-applying the table a generation holds wrote %+v", s1)
	}
	s2, err := d.ApplyStats(a) // Y, which holds b
	if err != nil {
		t.Fatal(err)
	}
	ea, err := encode(a, s2.Generation)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := encode(b, s2.Generation)
	if err != nil {
		t.Fatal(err)
	}
	size := func(g generation) (n int) {
		for _, m := range g {
			n += len(m)
		}
		return n
	}
	// Entries both tables share (the GET method, most port bitmap words)
	// are kept: fewer writes than a's entries, fewer deletes than b's.
	if s2.Deleted == 0 || s2.Deleted >= size(eb) || s2.Updated == 0 || s2.Updated >= size(ea) {
		t.Fatalf("replacing b by a: %+v; a has %d entries, b %d", s2, size(ea), size(eb))
	}
	f := newFlow(t, d.Ingress(), web4, orders4)
	if o := f.send(okReq); o != passed {
		t.Fatalf("after updates: %v", o)
	}
	if o := f.send(adminReq); o != reset {
		t.Fatalf("after updates: %v", o)
	}
}

// TestPinnedMapsSurviveReopen: a second Open on the same pin directory sees
// the table the first one applied and keeps enforcing it.
func TestPinnedMapsSurviveReopen(t *testing.T) {
	netns.RequireRoot(t)
	if _, err := os.Stat("/sys/fs/bpf"); err != nil {
		t.Skip("no bpffs at /sys/fs/bpf")
	}
	dir, err := os.MkdirTemp("/sys/fs/bpf", "axon-test-")
	if err != nil {
		t.Skipf("cannot create a directory on bpffs: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d1, err := Open(WithPinDir(dir), WithoutClientReset(), testSides)
	if err != nil {
		t.Fatal(err)
	}
	if d1.OpenedPolicing() {
		t.Fatal("fresh maps claim to police traffic")
	}
	tab := oneRuleTable()
	if err := d1.Apply(tab); err != nil {
		t.Fatal(err)
	}
	d1.Close()
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) == 0 {
		t.Fatal("nothing pinned")
	}
	d2, err := Open(WithPinDir(dir), WithoutClientReset(), testSides)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	registerReply(d2)
	if !d2.OpenedPolicing() {
		t.Fatal("reopened pinned maps do not report the policy they hold")
	}
	f := newFlow(t, d2.Ingress(), client, server)
	if o := f.send("GET /no HTTP/1.1\r\n\r\n"); o != reset {
		t.Fatalf("reopened datapath: %v, want the pinned table's deny", o)
	}
	st, err := d2.ApplyStats(tab)
	if err != nil {
		t.Fatal(err)
	}
	if st.Updated == 0 {
		t.Fatalf("the inactive generation was empty, yet Apply wrote nothing: %+v", st)
	}
	st, err = d2.ApplyStats(tab)
	if err != nil {
		t.Fatal(err)
	}
	if st.Updated != 0 || st.Deleted != 0 {
		t.Fatalf("re-applying the pinned table wrote %+v", st)
	}
}
