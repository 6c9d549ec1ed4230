package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// checkDenialSums fails t unless, for every rule and verdict, the tuples'
// counts plus the overflow equal the rule counters (deny and audit_deny).
func checkDenialSums(t *testing.T, d *Datapath) Denials {
	t.Helper()
	dn, err := d.Denials()
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
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
	return dn
}

// TestDenialTallies: every deny and audit_deny is tallied exactly by
// (rule, verdict, source, endpoint, method, path), allowed requests are
// not, and the tallies sum to the rule counters, with an event rate limit
// that lets almost no event through.
func TestDenialTallies(t *testing.T) {
	d := openTest(t, WithEventRate(1))
	tab := fixtureTable(t)
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
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
	dn := checkDenialSums(t, d)
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
	d := openTest(t, WithMaxDenials(4), WithMaxFlows(1<<16))
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				f := newFlow(t, d.Ingress(), web4, orders4)
				f.send(fmt.Sprintf("GET /api/v1/admin/%d HTTP/1.1\r\n\r\n", (g*300+i)%10))
				h := newFlow(t, d.Ingress(), world, legacy)
				h.send(fmt.Sprintf("GET /nope/%d HTTP/1.1\r\n\r\n", i%3))
			}
		})
	}
	wg.Wait()
	dn := checkDenialSums(t, d)
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
	if over == 0 || over+total != 2400 {
		t.Errorf("overflow %d + tuples %d, want some overflow and 2400 in all", over, total)
	}
}
