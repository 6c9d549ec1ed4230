package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// readTallies reads the tallies and the rule counters.
func readTallies(t *testing.T, d *Datapath) (Denials, Counters) {
	t.Helper()
	dn, err := d.Denials()
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return dn, c
}

// since subtracts earlier tallies and counters from later ones.
func since(dn, dn0 Denials, c, c0 Counters) (Denials, Counters) {
	out := Denials{Tuples: map[DenialKey]uint64{}, Overflow: map[RuleVerdict]uint64{}}
	for k, v := range dn.Tuples {
		if v > dn0.Tuples[k] {
			out.Tuples[k] = v - dn0.Tuples[k]
		}
	}
	for k, v := range dn.Overflow {
		if v > dn0.Overflow[k] {
			out.Overflow[k] = v - dn0.Overflow[k]
		}
	}
	oc := Counters{Rules: map[RuleVerdict]uint64{}}
	for k, v := range c.Rules {
		if v > c0.Rules[k] {
			oc.Rules[k] = v - c0.Rules[k]
		}
	}
	return out, oc
}

// checkDenialSums fails t unless, for every rule and verdict, the tuples'
// counts plus the overflow equal the rule counters (deny and audit_deny).
func checkDenialSums(t *testing.T, dn Denials, c Counters) {
	t.Helper()
	sums := map[RuleVerdict]uint64{}
	for k, v := range dn.Tuples {
		sums[RuleVerdict{Rule: k.Rule, Verdict: k.Verdict}] += v
	}
	for rv, v := range dn.Overflow {
		sums[rv] += v
	}
	for rv, v := range c.Rules {
		if rv.Verdict == VerdictAllow {
			continue
		}
		if sums[rv] != v {
			t.Errorf("rule %d %v: tallies %d, rule counter %d", rv.Rule, rv.Verdict, sums[rv], v)
		}
		delete(sums, rv)
	}
	for rv, v := range sums {
		t.Errorf("rule %d %v: tallies %d without a rule counter", rv.Rule, rv.Verdict, v)
	}
}

// TestDenialTallies: every deny and audit_deny is tallied exactly by
// (rule, verdict, source, endpoint, method, path), allowed requests are
// not, and the tallies sum to the rule counters. (test/e2e's
// TestAuditReport checks them with most events rate-limited away.)
func TestDenialTallies(t *testing.T) {
	d := sharedTest(t)
	tab := fixtureTable(t)
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	dn0, c0 := readTallies(t, d)
	send := func(src netip.Addr, dst netip.AddrPort, req string, n int) {
		for range n {
			newFlow(t, d.Ingress(), src, dst).send(req)
		}
	}
	send(web4, orders4, okReq, 5)
	send(web4, orders4, adminReq, 7)
	send(batch, orders4, adminReq, 2)
	send(web4, orders4, "POST /api/v1/admin/x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 3)
	send(world, legacy, "GET /nope/1 HTTP/1.1\r\n\r\n", 4)
	send(world, legacy, "GET /ok HTTP/1.1\r\n\r\n", 6)
	send(web4, orders4, "GET /api/v1/%2e%2e/x HTTP/1.1\r\n\r\n", 1)
	long := "/api/v1/admin/" + strings.Repeat("a", 200)
	send(web4, orders4, "GET "+long+" HTTP/1.1\r\n\r\n", 2)

	admin := ruleID(t, tab, "admin-deny", 0)
	legacyDefault := ruleID(t, tab, "legacy-audit", -1)
	type tuple struct {
		rule    uint32
		verdict Verdict
		src     netip.Addr
		method  string
		path    string
		plen    int
	}
	want := map[tuple]uint64{
		{uint32(admin), VerdictDeny, web4, "GET", "/api/v1/admin", 13}:        7,
		{uint32(admin), VerdictDeny, batch, "GET", "/api/v1/admin", 13}:       2,
		{uint32(admin), VerdictDeny, web4, "POST", "/api/v1/admin/x", 15}:     3,
		{uint32(legacyDefault), VerdictAuditDeny, world, "GET", "/nope/1", 7}: 4,
		{0, VerdictDeny, web4, "GET", "/api/v1/%2E%2E/x", 16}:                 1,
		{uint32(admin), VerdictDeny, web4, "GET", long[:128], len(long)}:      2,
	}
	dn1, c1 := readTallies(t, d)
	dn, c := since(dn1, dn0, c1, c0)
	checkDenialSums(t, dn, c)
	got := map[tuple]uint64{}
	for k, v := range dn.Tuples {
		got[tuple{uint32(k.Rule), k.Verdict, k.Src, k.Method, k.Path, k.PathLen}] += v
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tallies\n got %v\nwant %v", got, want)
	}
	if len(dn.Overflow) != 0 {
		t.Errorf("overflow %v with room left", dn.Overflow)
	}
}

// TestDenialOverflow: with room for 4 tuples, the others are counted per
// rule and verdict, and the sums still equal the rule counters, also with
// several goroutines sending at once.
func TestDenialOverflow(t *testing.T) {
	if testing.Short() {
		// The kernel matrix runs -short: a datapath of its own costs ~20 s
		// of verification under emulation, and TestDenialTallies runs the
		// same program there.
		t.Skip("-short: loads a datapath of its own")
	}
	d := openTest(t, WithMaxDenials(4), WithMaxFlows(1<<16))
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	const per = 300
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range per {
				f := newFlow(t, d.Ingress(), web4, orders4)
				f.send(fmt.Sprintf("GET /api/v1/admin/%d HTTP/1.1\r\n\r\n", (g*per+i)%10))
				h := newFlow(t, d.Ingress(), world, legacy)
				h.send(fmt.Sprintf("GET /nope/%d HTTP/1.1\r\n\r\n", i%3))
			}
		})
	}
	wg.Wait()
	dn, c := readTallies(t, d)
	checkDenialSums(t, dn, c)
	if len(dn.Tuples) != 4 {
		t.Errorf("%d tuples kept, want 4", len(dn.Tuples))
	}
	var over, total uint64
	for _, v := range dn.Overflow {
		over += v
	}
	for _, v := range dn.Tuples {
		total += v
	}
	if over == 0 || over+total != uint64(8*per) {
		t.Errorf("overflow %d + tuples %d, want some overflow and %d in all", over, total, 8*per)
	}
}
