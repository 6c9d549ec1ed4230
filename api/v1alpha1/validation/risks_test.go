package validation

import (
	"slices"
	"strings"
	"testing"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// Risky but valid policies are admitted with a warning that names the field.
func TestRiskWarnings(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(p *v1alpha1.L7NetworkPolicy)
		warn   string // "field: substring", "" for no warning
	}{
		{name: "enforce allow-list without an allow rule", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).Action = v1alpha1.ActionDeny },
			warn: "spec.rules: Enforce policy with defaultAction Deny and no Allow rule"},
		{name: "audit without an allow rule is fine", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).Action, p.Spec.Mode = v1alpha1.ActionDeny, v1alpha1.ModeAudit
		}},
		{name: "deny-list without an allow rule is fine", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).Action, p.Spec.DefaultAction = v1alpha1.ActionDeny, v1alpha1.ActionAllow
		}},
		{name: "prefix in the same item shadows an exact", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = "/api/v1/orders" },
			warn: "spec.rules[0].http[0].paths[0].exact: /api/v1/orders is covered by prefix /api/v1 at spec.rules[0].http[0].paths[1].prefix"},
		{name: "prefix is segment-wise", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = "/api/v10" }},
		{name: "a deny prefix for every source shadows an allow exact", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules = append(p.Spec.Rules, v1alpha1.Rule{Action: v1alpha1.ActionDeny,
				HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Prefix: "/"}}}}})
		}, warn: "spec.rules[0].http[0].paths[0].exact: /healthz is covered by prefix / at spec.rules[1].http[0].paths[0].prefix"},
		{name: "an allow prefix does not shadow a deny exact", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules = append(p.Spec.Rules, v1alpha1.Rule{Action: v1alpha1.ActionDeny,
				HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Exact: "/api/v1/admin"}}}}})
		}},
		{name: "a prefix for fewer methods does not shadow", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules = append(p.Spec.Rules, v1alpha1.Rule{Action: v1alpha1.ActionDeny,
				HTTP: []v1alpha1.HTTPRule{{Methods: []string{"HEAD"}, Paths: []v1alpha1.PathMatch{{Prefix: "/"}}}}})
		}},
		{name: "a deny of GET without HEAD", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules = append(p.Spec.Rules, v1alpha1.Rule{Action: v1alpha1.ActionDeny,
				HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Prefix: "/admin"}}}, {Methods: []string{"GET"}, Paths: []v1alpha1.PathMatch{{Prefix: "/internal"}}}}})
		}, warn: "spec.rules[1].http[1].methods: denies GET but not HEAD"},
		{name: "an allow of GET without HEAD is fine", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).HTTP[0].Methods = []string{"GET"}
		}},
		{name: "a prefix for some sources does not shadow another rule", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules = append(p.Spec.Rules, v1alpha1.Rule{Action: v1alpha1.ActionDeny, From: rule0(p).From[:1],
				HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Prefix: "/"}}}}})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validPolicy()
			tc.mutate(p)
			errs, warns := ValidatePolicy(p)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs.ToAggregate())
			}
			if tc.warn == "" && len(warns) > 0 {
				t.Errorf("unexpected warnings %q", warns)
			}
			if tc.warn != "" && !slices.ContainsFunc(warns, func(w string) bool { return strings.HasPrefix(w, tc.warn) }) {
				t.Errorf("warnings %q lack %q", warns, tc.warn)
			}
		})
	}
}
