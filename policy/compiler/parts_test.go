package compiler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// conjString is a conjunction with its tests in a fixed order.
func conjString(c *conj) string {
	var ms, ps []string
	for _, m := range c.methods {
		ms = append(ms, fmt.Sprintf("%v%q", m.neg, m.set))
	}
	for _, a := range c.paths {
		ps = append(ps, fmt.Sprintf("%d%v%q", a.kind, a.neg, a.s))
	}
	slices.Sort(ms)
	slices.Sort(ps)
	return fmt.Sprintf("%d|%s|%v|%v", c.rule, c.srcKey, ms, ps)
}

// residualsBothWays partially evaluates every L7NetworkPolicy of in that
// protects a pod whole (the library's matched[x]) and by rule part, and
// returns both sets of residual queries, sorted.
func residualsBothWays(t *testing.T, in *Input) (whole, byPart []string) {
	t.Helper()
	ctx := context.Background()
	ps, rules, err := preparePolicies(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	pods, _ := knownPods(in)
	nsData := map[string]any{}
	for n, l := range namespaceLabels(in, pods, ps) {
		nsData[n] = labelsAny(l)
	}
	env, err := newDataEnv(in)
	if err != nil {
		t.Fatal(err)
	}
	comp, err := libraryCompiler(ps, env)
	if err != nil {
		t.Fatal(err)
	}
	ruleIDs := map[ruleKey]table.RuleID{}
	for _, r := range rules {
		ruleIDs[ruleKey{r.Namespace, r.Policy, r.Index}] = r.ID
	}
	done := map[int]bool{}
	byKey := map[string]*part{}
	var parts []*part
	var l7s []l7Job
	for _, tg := range targets(pods, ps) {
		for _, pi := range tg.policies {
			if ps[pi].module != nil || done[pi] {
				continue
			}
			done[pi] = true
			dest := map[string]any{"namespace": tg.pod.ns, "labels": labelsAny(tg.pod.labels), "port": int(tg.port)}
			cs, err := partialEval(ctx, comp, env, nsData, []any{mustValue(ps[pi])}, dest, ruleIDs)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				whole = append(whole, conjString(c))
			}
			rp, err := splitRules(ps, pi, byKey, &parts)
			if err != nil {
				t.Fatal(err)
			}
			l7s = append(l7s, l7Job{pi: pi, parts: rp})
		}
	}
	for k := range 2 {
		var batch []*part
		for _, pt := range parts {
			if pt.kind == partKind(k) {
				batch = append(batch, pt)
			}
		}
		// Small batches: the index of a part in its batch must not matter.
		for len(batch) > 0 {
			n := min(len(batch), 3)
			evalParts(ctx, comp, env, nsData, batch[:n])
			batch = batch[n:]
		}
	}
	for _, l := range l7s {
		cs, err := l.join(ps, ruleIDs)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			byPart = append(byPart, conjString(c))
		}
	}
	slices.Sort(whole)
	slices.Sort(byPart)
	return whole, byPart
}

// TestPartsMatchWholePolicies checks evaluation by rule part against the
// library's matched[x] for whole policies, on the differential test's random
// policy sets and the compile benchmark's policies: the same residual
// queries, rule for rule.
func TestPartsMatchWholePolicies(t *testing.T) {
	if !libraryHasParts() {
		t.Fatal("the library's rule_matches is not from_matches and http_matches: Compile evaluates whole policies")
	}
	seeds := 150
	if testing.Short() {
		seeds = 30
	}
	n := 0
	for seed := range seeds {
		g := gen{rand.New(rand.NewPCG(uint64(seed), 11))}
		whole, byPart := residualsBothWays(t, g.input())
		if !slices.Equal(whole, byPart) {
			t.Fatalf("seed %d: residual queries differ\nwhole:\n%s\nby part:\n%s", seed, strings.Join(whole, "\n"), strings.Join(byPart, "\n"))
		}
		n += len(whole)
	}
	in := benchInput()
	in.Policies = in.Policies[:100]
	whole, byPart := residualsBothWays(t, in)
	if !slices.Equal(whole, byPart) {
		t.Fatalf("benchmark policies: residual queries differ (%d whole, %d by part)", len(whole), len(byPart))
	}
	n += len(whole)
	if n < 1000 {
		t.Fatalf("only %d residual queries compared", n)
	}
	t.Logf("%d residual queries compared", n)
}

// TestLibraryHasParts checks, many times over (the library's modules come
// from a map), that Compile evaluates L7NetworkPolicy rules by part.
func TestLibraryHasParts(t *testing.T) {
	for range 20 {
		if !libraryHasPartsUncached() {
			t.Fatal("rule_matches is not from_matches(p, r) and http_matches(r) in the library")
		}
	}
}
