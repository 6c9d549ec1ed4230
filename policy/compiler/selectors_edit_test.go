package compiler

import (
	"context"
	"math/rand/v2"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// richNSSelector draws namespace selectors the differential generator does
// not: matchExpressions of every operator, selectors matching no namespace,
// both matchLabels and matchExpressions.
func (g gen) richNSSelector() *metav1.LabelSelector {
	ops := []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist}
	s := &metav1.LabelSelector{}
	if g.chance(0.4) {
		s.MatchLabels = map[string]string{g.pick("team", "env", "kubernetes.io/metadata.name"): g.pick("a", "b", "zzz", "shop", "ops", "dev", "prod")}
	}
	for n := g.r.IntN(3); n > 0; n-- {
		op := ops[g.r.IntN(len(ops))]
		e := metav1.LabelSelectorRequirement{Key: g.pick("team", "env", "kubernetes.io/metadata.name"), Operator: op}
		if op == metav1.LabelSelectorOpIn || op == metav1.LabelSelectorOpNotIn {
			e.Values = []string{g.pick("a", "b", "zzz", "shop", "ops", "dev", "prod")}
			if g.chance(0.5) {
				if v := g.pick("a", "b", "shop", "dev"); v != e.Values[0] {
					e.Values = append(e.Values, v)
				}
			}
		}
		s.MatchExpressions = append(s.MatchExpressions, e)
	}
	return s
}

func (g gen) richInput() *Input {
	in := g.input()
	for i := range in.Namespaces {
		if g.chance(0.5) {
			in.Namespaces[i].Labels["env"] = g.pick("prod", "dev")
		}
	}
	for pi := range in.Policies {
		p := &in.Policies[pi]
		for ri := range p.Spec.Rules {
			r := &p.Spec.Rules[ri]
			for fi := range r.From {
				f := &r.From[fi]
				if f.NamespaceSelector != nil && g.chance(0.6) {
					f.NamespaceSelector = g.richNSSelector()
				}
				if f.IPBlock == nil && f.NamespaceSelector == nil && g.chance(0.2) {
					f.NamespaceSelector = g.richNSSelector()
				}
			}
		}
	}
	return in
}

// mutate changes one thing of in (a rule's action, a namespace's labels, a
// peer's selector, a policy's mode), as a reload after an edit would.
func (g gen) mutate(in *Input) {
	switch g.r.IntN(4) {
	case 0:
		if len(in.Namespaces) > 0 {
			ns := &in.Namespaces[g.r.IntN(len(in.Namespaces))]
			l := map[string]string{}
			for k, v := range ns.Labels {
				l[k] = v
			}
			l["team"] = g.pick("a", "b")
			if g.chance(0.5) {
				delete(l, "env")
			} else {
				l["env"] = g.pick("prod", "dev")
			}
			ns.Labels = l
		}
	case 1:
		p := &in.Policies[g.r.IntN(len(in.Policies))]
		if p.Spec.Mode == v1alpha1.ModeAudit {
			p.Spec.Mode = v1alpha1.ModeEnforce
		} else {
			p.Spec.Mode = v1alpha1.ModeAudit
		}
	default:
		p := &in.Policies[g.r.IntN(len(in.Policies))]
		if p.Spec.Rego != nil {
			return
		}
		if len(p.Spec.Rules) == 0 {
			p.Spec.Rules = append(p.Spec.Rules, g.rule())
			return
		}
		rules := append([]v1alpha1.Rule(nil), p.Spec.Rules...)
		r := &rules[g.r.IntN(len(rules))]
		if r.Action == v1alpha1.ActionDeny {
			r.Action = v1alpha1.ActionAllow
		} else {
			r.Action = v1alpha1.ActionDeny
		}
		if len(r.From) > 0 && g.chance(0.5) {
			from := append([]v1alpha1.Peer(nil), r.From...)
			from[0] = v1alpha1.Peer{NamespaceSelector: g.richNSSelector()}
			r.From = from
		}
		p.Spec.Rules = rules
	}
}

// TestRichSelectorsAcrossEdits: for random policy sets with rich
// namespace selectors, a table compiled after an edit with a warm cache
// decides as OPA does on the edited set.
func TestRichSelectorsAcrossEdits(t *testing.T) {
	ctx := context.Background()
	bad := 0
	for seed := range 30 {
		g := gen{rand.New(rand.NewPCG(uint64(seed), 99))}
		in := g.richInput()
		cache := NewCache()
		if _, err := Compile(ctx, in, WithCache(cache)); err != nil {
			t.Logf("seed %d: compile: %v", seed, err)
			continue
		}
		for step := range 3 {
			g.mutate(in)
			tab, err := Compile(ctx, in, WithCache(cache))
			if err != nil {
				t.Logf("seed %d step %d: compile: %v", seed, step, err) // unsupported Rego constructs of the generator
				continue
			}
			o, err := NewOracle(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 300; i++ {
				r := g.request(in, tab.Endpoints)
				want, err := o.Decide(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				if got := tab.Decide(r); got != want {
					bad++
					if bad < 5 {
						t.Errorf("seed %d step %d: %s %s %s -> %s: table %+v, OPA %+v\n%s", seed, step, r.Src, r.Method, r.Target, r.Dst, got, want, describe(in, tab))
					}
				}
			}
		}
	}
}

// TestPartsMatchWholePoliciesRichSelectors: evaluation by part against whole policies
// on the rich namespace selectors.
func TestPartsMatchWholePoliciesRichSelectors(t *testing.T) {
	n := 0
	for seed := range 120 {
		g := gen{rand.New(rand.NewPCG(uint64(seed), 5))}
		in := g.richInput()
		if _, err := Compile(context.Background(), in); err != nil {
			continue
		}
		whole, byPart := residualsBothWays(t, in)
		if len(whole) != len(byPart) {
			t.Fatalf("seed %d: %d whole, %d by part", seed, len(whole), len(byPart))
		}
		for i := range whole {
			if whole[i] != byPart[i] {
				t.Fatalf("seed %d: %s\n!=\n%s", seed, whole[i], byPart[i])
			}
		}
		n += len(whole)
	}
	t.Logf("%d residual queries", n)
}
