package datapath

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

var (
	orders4 = netip.MustParseAddrPort("10.0.0.10:8080")
	orders6 = netip.MustParseAddrPort("[fd00::10]:8080")
	legacy  = netip.MustParseAddrPort("10.0.0.11:9090")
	web4    = netip.MustParseAddr("10.0.1.20")
	web6    = netip.MustParseAddr("fd00::20")
	batch   = netip.MustParseAddr("10.0.1.30")
	lan     = netip.MustParseAddr("192.168.7.7")
	lanX    = netip.MustParseAddr("192.168.1.5") // in the except
	world   = netip.MustParseAddr("8.8.8.8")
)

// ruleID finds a rule of the table by policy name and index (-1 = default).
func ruleID(t testing.TB, tab *table.Table, policy string, index int) table.RuleID {
	t.Helper()
	for _, r := range tab.Rules {
		if r.Policy == policy && r.Index == index {
			return r.ID
		}
	}
	t.Fatalf("no rule %s[%d]", policy, index)
	return 0
}

// TestPolicyDecisions sends one request per case on a fresh connection
// through the TC program, with the maps filled from the compiled fixture, and
// checks the verdict, the rule it is counted against and the reference
// evaluator's agreement.
func TestPolicyDecisions(t *testing.T) {
	d := sharedTest(t)
	tab := fixtureTable(t)
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	type want struct {
		v      Verdict
		policy string // rule counted: policy and rule index (-1 default, -2 none)
		index  int
	}
	allow := func(p string, i int) want { return want{VerdictAllow, p, i} }
	deny := func(p string, i int) want { return want{VerdictDeny, p, i} }
	audit := func(p string, i int) want { return want{VerdictAuditDeny, p, i} }
	none := func(v Verdict) want { return want{v, "", -2} }
	cases := []struct {
		name   string
		src    netip.Addr
		dst    netip.AddrPort
		method string
		target string
		want   want
	}{
		{"prefix allow", web4, orders4, "GET", "/api/v1/items", allow("orders-api", 0)},
		{"prefix allow exact prefix", web4, orders4, "GET", "/api/v1", allow("orders-api", 0)},
		{"prefix is segment-wise", web4, orders4, "GET", "/api/v1x", deny("orders-api", -1)},
		{"second method", web4, orders4, "HEAD", "/api/v1/items", allow("orders-api", 0)},
		{"method not allowed", web4, orders4, "DELETE", "/api/v1/items", deny("orders-api", -1)},
		{"unknown method", web4, orders4, "BREW", "/api/v1/items", deny("orders-api", -1)},
		{"methods are case-sensitive", web4, orders4, "get", "/api/v1/items", deny("orders-api", -1)},
		{"exact allow", web4, orders4, "POST", "/api/v1/orders", allow("orders-api", 1)},
		{"exact is exact", web4, orders4, "POST", "/api/v1/orders/1", deny("orders-api", -1)},
		{"query ignored", web4, orders4, "POST", "/api/v1/orders?x=1", allow("orders-api", 1)},
		{"fragment is non-canonical", web4, orders4, "POST", "/api/v1/orders#top", none(VerdictDeny)},
		{"absolute form", web4, orders4, "POST", "http://orders:8080/api/v1/orders", allow("orders-api", 1)},
		{"absolute https form", web4, orders4, "GET", "HTTPS://orders/api/v1/x", allow("orders-api", 0)},
		{"absolute form without path", web4, orders4, "GET", "http://orders", deny("orders-api", -1)},
		{"wrong source", batch, orders4, "GET", "/api/v1/items", deny("orders-api", -1)},
		{"world source", world, orders4, "GET", "/api/v1/items", deny("orders-api", -1)},
		{"deny overrides allow", web4, orders4, "GET", "/api/v1/admin/users", deny("admin-deny", 0)},
		{"deny glob overrides allow", web4, orders4, "GET", "/api/v1/secret/a/b", deny("admin-deny", 0)},
		{"deny glob star is one segment", web4, orders4, "GET", "/api/v1/x/secret/a", allow("orders-api", 0)},
		{"cidr allow", lan, orders4, "GET", "/public/a", allow("orders-api", 2)},
		{"cidr except", lanX, orders4, "GET", "/public/a", deny("orders-api", -1)},
		{"cidr wrong path", lan, orders4, "GET", "/api/v1/items", deny("orders-api", -1)},
		{"glob allow", world, orders4, "GET", "/static/site.css", allow("orders-api", 3)},
		{"glob star excludes slash", world, orders4, "GET", "/static/a/site.css", deny("orders-api", -1)},
		{"glob wrong suffix", world, orders4, "GET", "/static/site.js", deny("orders-api", -1)},
		{"glob double star", world, orders4, "GET", "/files/a/b/c/index.html", allow("orders-api", 3)},
		{"glob double star empty", world, orders4, "GET", "/files//index.html", none(VerdictDeny)},
		{"glob double star one", world, orders4, "GET", "/files/x/index.html", allow("orders-api", 3)},
		{"namespace selector any method", batch, orders4, "PATCH", "/batch/run", allow("orders-api", 4)},
		{"asterisk form", world, orders4, "OPTIONS", "*", deny("orders-api", -1)},
		{"ipv6 endpoint and pod source", web6, orders6, "GET", "/api/v1/items", allow("orders-api", 0)},
		{"ipv6 deny", web6, orders6, "GET", "/api/v1/admin", deny("admin-deny", 0)},
		{"non-canonical dot segment", web4, orders4, "GET", "/api/v1/../admin", none(VerdictDeny)},
		{"non-canonical dot", web4, orders4, "GET", "/api/v1/./x", none(VerdictDeny)},
		{"non-canonical trailing dots", web4, orders4, "GET", "/api/v1/..", none(VerdictDeny)},
		{"non-canonical double slash", web4, orders4, "GET", "/api//v1/x", none(VerdictDeny)},
		{"non-canonical backslash", web4, orders4, "GET", "/api/v1\\x", none(VerdictDeny)},
		{"non-canonical path parameter", web4, orders4, "GET", "/api/v1/..;/admin", none(VerdictDeny)},
		{"non-canonical semicolon", web4, orders4, "GET", "/api/v1/items;x", none(VerdictDeny)},
		{"non-canonical escaped letter", web4, orders4, "GET", "/api/v1/%61dmin", none(VerdictDeny)},
		{"non-canonical escaped slash", web4, orders4, "GET", "/api/v1%2Fadmin", none(VerdictDeny)},
		{"non-canonical bad escape", web4, orders4, "GET", "/api/v1/%zz", none(VerdictDeny)},
		{"non-canonical raw byte", web4, orders4, "GET", "/api/v1/\xff", none(VerdictDeny)},
		{"non-canonical relative", web4, orders4, "GET", "api/v1/x", none(VerdictDeny)},
		{"kept escape", web4, orders4, "GET", "/api/v1/a%20b", allow("orders-api", 0)},
		{"audit allow", world, legacy, "GET", "/ok/1", allow("", -2)},
		{"audit would-deny", world, legacy, "GET", "/nope", audit("legacy-audit", -1)},
		{"audit non-canonical", world, legacy, "GET", "/a/../b", none(VerdictAuditDeny)},
	}
	before, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := tab.Decide(table.Request{Src: tc.src, Dst: tc.dst, Method: tc.method, Target: tc.target})
			if Verdict(ref.Action) != tc.want.v {
				t.Errorf("reference evaluator says %v, the test expects %v", ref.Action, tc.want.v)
			}
			f := newFlow(t, d.Ingress(), tc.src, tc.dst)
			got := f.send(tc.method + " " + tc.target + " HTTP/1.1\r\nHost: x\r\n\r\n")
			wantOutcome := passed
			if tc.want.v == VerdictDeny {
				wantOutcome = reset
			}
			if got != wantOutcome {
				t.Fatalf("%s %s from %v: %v, want %v", tc.method, tc.target, tc.src, got, wantOutcome)
			}
			after, err := d.Counters()
			if err != nil {
				t.Fatal(err)
			}
			var rule table.RuleID
			if tc.want.index != -2 {
				rule = ruleID(t, tab, tc.want.policy, tc.want.index)
			}
			if tc.want.policy == "" && tc.want.index == -2 && tc.want.v == VerdictAllow {
				rule = ref.Rule // allow without an enforce rule: whatever default the compiler chose
			}
			k := RuleVerdict{rule, tc.want.v}
			if after.Rules[k] != before.Rules[k]+1 {
				t.Errorf("counter %v: %d -> %d, want +1 (reference: %+v)", k, before.Rules[k], after.Rules[k], ref)
			}
			before = after
		})
	}
	if testing.Verbose() {
		var b strings.Builder
		for _, r := range tab.Rules {
			b.WriteString(r.Policy)
			b.WriteString(" ")
		}
		t.Log("rules:", b.String())
	}
}
