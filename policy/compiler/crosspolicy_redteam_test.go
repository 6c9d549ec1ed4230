package compiler

import (
	"context"
	"strings"
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
			// Each policy is compiled on its own: such a module is refused
			// at its line (it compiled to a table OPA disagreed with).
			_, err := Compile(context.Background(), in)
			if err == nil || !strings.Contains(err.Error(), "tenants.rego:") || !strings.Contains(err.Error(), "data.axon.") {
				t.Fatalf("compile: %v, want the module refused at its reference to data.axon", err)
			}
			checkAgainstOPA(t, in, externalAndPods)
		})
	}
}
