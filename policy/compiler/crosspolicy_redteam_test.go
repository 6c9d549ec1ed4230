package compiler

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// TestRedteamRegoReadsOtherPolicies (red team, pol24): a Rego module that
// reads the library's state about other policies (data.axon.policies,
// data.axon.authz.protecting) is partially evaluated with only its own
// policy in data.axon.policies (partialEval gets []any{v}), while OPA
// evaluates it with every policy. The compiler assumes "a rule's residual
// does not depend on the other policies" but accepts modules that break
// it. Here shop/guard (Enforce, defaultAction Allow, no rules) also
// protects 10.1.0.1:8080; the module denies everything when another policy
// protects the endpoint. OPA: deny. Table: allow. Refusing such modules
// would be a correct outcome.
func TestRedteamRegoReadsOtherPolicies(t *testing.T) {
	for name, deny := range map[string]string{
		"policies":   "deny if count(data.axon.policies) > 1",
		"by name":    "deny if {\n\tsome p in data.axon.policies\n\tp.metadata.name == \"guard\"\n}",
		"protecting": "deny if count(data.axon.authz.protecting) > 1",
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			in := regoInput()
			in.Modules["tenants.rego"] = "package tenants\n\nimport rego.v1\n\nallow if true\n\n" + deny + "\n"
			in.Policies = append(in.Policies, v1alpha1.L7NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "guard"},
				Spec: v1alpha1.L7NetworkPolicySpec{
					PodSelector:   metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
					Ports:         []v1alpha1.PortSpec{{Port: 8080}},
					DefaultAction: v1alpha1.ActionAllow,
				},
			})
			tab, err := Compile(ctx, in)
			if err != nil {
				t.Logf("compile refuses the module: %v", err)
				return
			}
			o, err := NewOracle(ctx, in)
			if err != nil {
				t.Fatalf("oracle: %v", err)
			}
			for _, r := range externalAndPods {
				want, err := o.Decide(ctx, r)
				if err != nil {
					t.Fatalf("OPA: %v", err)
				}
				if got := tab.Decide(r); got != want {
					t.Errorf("%s %s from %s: table %s (rule %d), OPA %s (rule %d)", r.Method, r.Target, r.Src, got.Action, got.Rule, want.Action, want.Rule)
				}
			}
		})
	}
}
