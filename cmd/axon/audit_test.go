package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/audit"
)

// TestMergeReports: two agents' reports add up per (source, method,
// route); only what the policy as it is now would deny counts; Enforce
// policies and allowed traffic are left out.
func TestMergeReports(t *testing.T) {
	t0 := time.Unix(1000, 0)
	key := audit.Key{Namespace: "shop", Policy: "p", Rule: "0", Decision: "audit_deny",
		SourceNamespace: "shop", SourceWorkload: "web", Method: "GET", Route: "/admin"}
	old := key
	old.Rule = "default"
	enf := key
	enf.Policy, enf.Decision = "e", "deny"
	pols := []audit.Policy{{Namespace: "shop", Name: "p", Mode: "Audit", ChangedAt: t0.Add(5 * time.Second)},
		{Namespace: "shop", Name: "e", Mode: "Enforce"}}
	a := audit.Report{Agent: "a", Since: t0, Policies: pols, Denials: []audit.Series{
		{Key: key, Count: 7, SinceChange: 4, First: t0.Add(time.Second), Last: t0.Add(9 * time.Second), SourceIPs: []string{"10.0.0.1"}},
		{Key: old, Count: 3, SinceChange: 0, First: t0, Last: t0.Add(2 * time.Second)},
		{Key: enf, Count: 9, SinceChange: 9},
	}}
	b := audit.Report{Agent: "b", Since: t0.Add(time.Second), Policies: pols, Denials: []audit.Series{
		{Key: key, Count: 2, SinceChange: 2, First: t0.Add(6 * time.Second), Last: t0.Add(12 * time.Second), SourceIPs: []string{"10.0.0.2"}},
	}}
	r := mergeReports([]audit.Report{a, b})
	if len(r.Policies) != 1 || !r.Since.Equal(t0) {
		t.Fatalf("policies %+v since %v", r.Policies, r.Since)
	}
	p := r.Policies[0]
	if p.Verdict != verdictUnsafe || p.AuditDenied != 6 || p.Before != 6 || len(p.Denials) != 1 {
		t.Fatalf("policy %+v", p)
	}
	s := p.Denials[0]
	if s.Count != 6 || !s.First.Equal(t0.Add(time.Second)) || !s.Last.Equal(t0.Add(12*time.Second)) || len(s.SourceIPs) != 2 {
		t.Errorf("series %+v", s)
	}
	var out strings.Builder
	printAudit(&out, r, false)
	for _, w := range []string{"shop/p (Audit)", "NOT SAFE TO ENFORCE: 6 requests", "shop/web  GET     /admin  0     6",
		"6 would-be denials of its earlier versions are left out"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("colours without a terminal:\n%q", out.String())
	}
}

// TestQuantile: linear interpolation inside the bucket, as PromQL's
// histogram_quantile.
func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	cur := map[float64]float64{0.1: 10, 0.2: 30, 0.5: 40, inf: 40}
	prev := map[float64]float64{0.1: 0, 0.2: 0, 0.5: 0, inf: 0}
	for _, c := range []struct{ q, want float64 }{{0.25, 0.1}, {0.5, 0.15}, {0.75, 0.2}, {1, 0.5}} {
		got := quantile(c.q, cur, prev)
		if got == nil || math.Abs(*got-c.want) > 1e-9 {
			t.Errorf("q%v: %v, want %v", c.q, got, c.want)
		}
	}
	if quantile(0.5, prev, prev) != nil {
		t.Error("a quantile of nothing")
	}
}
