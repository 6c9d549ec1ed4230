package audit

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/agent/observe"
	"github.com/axon-dev/axon/policy/compiler"
)

var (
	orders = netip.MustParseAddr("10.1.0.10")
	web    = netip.MustParseAddr("10.1.0.20")
	world  = netip.MustParseAddr("8.8.8.8")
)

func testResolver() Resolver {
	pods := NewIndex([]observe.Pod{
		{Namespace: "shop", Name: "orders-0", Workload: "orders", IPs: []netip.Addr{orders},
			Monitored: true, Routes: observe.NewTemplate([]string{"/api/orders/*"}), MaxRoutes: 3},
		{Namespace: "shop", Name: "web-0", Workload: "web", IPs: []netip.Addr{web}},
	})
	return Resolver{
		Rule: func(rv datapath.RuleVerdict) RuleInfo {
			return RuleInfo{Namespace: "shop", Policy: "p", Rule: fmt.Sprint(rv.Rule), Decision: rv.Verdict.String()}
		},
		Endpoint: func(id uint32) (netip.Addr, bool) { return orders, id == 1 },
		Pods:     pods,
	}
}

func tuple(src netip.Addr, method, path string) datapath.DenialKey {
	k := datapath.DenialKey{Rule: 1, Verdict: datapath.VerdictAuditDeny, Endpoint: 1, Src: src, Method: method,
		Path: path, PathLen: len(path)}
	if len(path) > compiler.MaxPathKey {
		k.Path = path[:compiler.MaxPathKey]
	}
	return k
}

func counts(t *Tally) string {
	var b strings.Builder
	for _, s := range t.Series() {
		fmt.Fprintf(&b, "%s/%s %s %s %s=%d\n", s.SourceNamespace, s.SourceWorkload, s.Method, s.Route, s.Decision, s.Count)
	}
	return b.String()
}

// TestTally: counts are deltas since Prime, sources are named by pod,
// routes by the destination's monitor (else the heuristic), capped per
// policy; truncated paths and the overflow go to "other".
func TestTally(t *testing.T) {
	tl := NewTally()
	r := testResolver()
	tl.Prime(datapath.Denials{Tuples: map[datapath.DenialKey]uint64{tuple(web, "GET", "/api/orders/1"): 5}})
	tl.Add(datapath.Denials{
		Tuples: map[datapath.DenialKey]uint64{
			tuple(web, "GET", "/api/orders/1"):                 8,
			tuple(web, "GET", "/api/orders/2"):                 1,
			tuple(world, "BREW", "/users/12345/x"):             2,
			tuple(web, "DELETE", "/"+strings.Repeat("a", 200)): 4,
		},
		Overflow: map[datapath.RuleVerdict]uint64{{Rule: 1, Verdict: datapath.VerdictAuditDeny}: 6},
	}, r, time.Unix(100, 0))
	want := "/ _OTHER /users/*/x audit_deny=2\n" +
		"/ _OTHER other audit_deny=6\n" +
		"shop/web DELETE other audit_deny=4\n" +
		"shop/web GET /api/orders/* audit_deny=4\n"
	if got := counts(tl); got != want {
		t.Errorf("series\n%s\nwant\n%s", got, want)
	}
	// Route cap 3 per policy: /api/orders/*, /users/*/x, then /b; /c is other.
	tl.Add(datapath.Denials{Tuples: map[datapath.DenialKey]uint64{
		tuple(web, "GET", "/api/orders/1"): 8,
		tuple(web, "GET", "/b"):            1,
		tuple(web, "GET", "/c"):            1,
	}}, r, time.Unix(101, 0))
	for _, s := range tl.Series() {
		if s.Method == "GET" && s.Route != "/api/orders/*" && s.Route != "/b" && s.Route != RouteOther {
			t.Errorf("route %q beyond the cap", s.Route)
		}
	}
	// A raw counter that drops (maps recreated) counts from zero.
	tl.Add(datapath.Denials{Tuples: map[datapath.DenialKey]uint64{tuple(web, "GET", "/api/orders/1"): 2}}, r, time.Unix(102, 0))
	for _, s := range tl.Series() {
		if s.Route == "/api/orders/*" {
			if s.Count != 6 || !s.First.Equal(time.Unix(100, 0)) || !s.Last.Equal(time.Unix(102, 0)) {
				t.Errorf("series %+v, want count 6 seen from 100 to 102", s)
			}
		}
	}
}
