package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
)

const regoHead = "package tenants\n\nimport rego.v1\n\n"

func regoPolicy(module string) *v1alpha1.L7NetworkPolicy {
	return &v1alpha1.L7NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "tenants", Namespace: "shop"},
		Spec: v1alpha1.L7NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
			Ports:       []v1alpha1.PortSpec{{Port: 8080}},
			Rego:        &v1alpha1.RegoSource{Inline: module},
		},
	}
}

// The pure function refuses Rego the compiler cannot enforce, naming the
// field and the module line, and admits what the compiler takes.
func TestValidateL7NetworkPolicyRego(t *testing.T) {
	cases := []struct {
		name, module string
		want         string // prefix of the only error, "" for none
	}{
		{"supported", regoHead + "allow if {\n\tinput.method == \"GET\"\n\tstartswith(input.path, \"/api\")\n}\n", ""},
		{"unsupported built-in", regoHead + "allow if {\n\tupper(input.method) == \"GET\"\n}\n",
			"spec.rego.inline: Unsupported value: line 6: unsupported construct"},
		{"source ip comparison", regoHead + "deny if {\n\tinput.method == \"GET\"\n}\n\nallow if {\n\tinput.source.ip == \"10.0.0.1\"\n}\n",
			"spec.rego.inline: Unsupported value: line 10: unsupported construct"},
		{"parse error", regoHead + "allow if {\n\tinput.method ==\n}\n",
			"spec.rego.inline: Invalid value: line 7: invalid policy"},
		{"allow as a set", regoHead + "allow contains 1 if true\n",
			"spec.rego.inline: Invalid value: line 5: invalid policy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs, _ := ValidateL7NetworkPolicy(context.Background(), regoPolicy(c.module), nil, Limits{})
			if c.want == "" {
				if len(errs) > 0 {
					t.Fatalf("errors: %v", errs.ToAggregate())
				}
				return
			}
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), c.want) {
				t.Fatalf("errors %v, want one starting %q", errs.ToAggregate(), c.want)
			}
		})
	}
}

// A module in a ConfigMap is compiled when the ConfigMap has it, and the
// policy is admitted with a warning when it does not (yet).
func TestValidateL7NetworkPolicyConfigMap(t *testing.T) {
	p := regoPolicy("")
	p.Spec.Rego = &v1alpha1.RegoSource{ConfigMapRef: &v1alpha1.ConfigMapKeyRef{Name: "tenants", Key: "policy.rego"}}
	key := compiler.ConfigMapModuleKey("shop", "tenants", "policy.rego")

	errs, warns := ValidateL7NetworkPolicy(context.Background(), p, nil, Limits{})
	if len(errs) > 0 || !slices.ContainsFunc(warns, func(w string) bool {
		return strings.HasPrefix(w, "spec.rego.configMapRef: ConfigMap tenants has no key")
	}) {
		t.Errorf("missing ConfigMap: errors %v, warnings %q", errs, warns)
	}
	errs, _ = ValidateL7NetworkPolicy(context.Background(), p, Modules{key: regoHead + "allow if {\n\tupper(input.method) == \"GET\"\n}\n"}, Limits{})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "spec.rego.configMapRef: Unsupported value: ConfigMap tenants key \"policy.rego\" line 6: unsupported construct") {
		t.Errorf("bad module in a ConfigMap: errors %v", errs.ToAggregate())
	}
	errs, _ = ValidateL7NetworkPolicy(context.Background(), p, Modules{key: regoHead + "allow if input.method == \"GET\"\n"}, Limits{})
	if len(errs) > 0 {
		t.Errorf("good module in a ConfigMap: errors %v", errs.ToAggregate())
	}
}

// The probe pod satisfies the selector, or the selector is reported as
// selecting nothing.
func TestProbeLabels(t *testing.T) {
	in := metav1.LabelSelectorRequirement{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}
	notA := metav1.LabelSelectorRequirement{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"a"}}
	exists := metav1.LabelSelectorRequirement{Key: "team", Operator: metav1.LabelSelectorOpExists}
	gone := metav1.LabelSelectorRequirement{Key: "app", Operator: metav1.LabelSelectorOpDoesNotExist}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}, MatchExpressions: []metav1.LabelSelectorRequirement{in, notA, exists}}
	if l, ok := probeLabels(sel); !ok || l["tier"] != "b" || l["team"] == "" || l["x"] != "y" {
		t.Errorf("probeLabels = %v, %v", l, ok)
	}
	sel = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "y"}, MatchExpressions: []metav1.LabelSelectorRequirement{gone}}
	if _, ok := probeLabels(sel); ok {
		t.Error("contradicting selector satisfied")
	}
	p := regoPolicy(regoHead + "allow if input.method == \"GET\"\n")
	p.Spec.PodSelector = *sel
	if _, warns := ValidateL7NetworkPolicy(context.Background(), p, nil, Limits{}); !slices.ContainsFunc(warns, func(w string) bool { return strings.HasPrefix(w, "spec.podSelector") }) {
		t.Errorf("warnings %q lack spec.podSelector", warns)
	}
}

// A policy the compiler takes but the datapath could not load (more glob
// candidates for one request than the datapath tests) is refused at
// admission, saying the limit and the figure.
func TestValidateL7NetworkPolicyRefusesWhatCannotLoad(t *testing.T) {
	p := regoPolicy("")
	p.Spec.Rego = nil
	for i := range 20 {
		p.Spec.Rules = append(p.Spec.Rules, v1alpha1.Rule{Action: v1alpha1.ActionAllow,
			HTTP: []v1alpha1.HTTPRule{{Methods: []string{"GET"}, Paths: []v1alpha1.PathMatch{{Glob: fmt.Sprintf("/*/g%d", i)}}}}})
	}
	errs, _ := ValidateL7NetworkPolicy(context.Background(), p, nil, Limits{})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "20 glob rules could match one request") || !strings.Contains(errs[0].Error(), "at most 16") {
		t.Fatalf("errors %v, want one refusing 20 glob candidates (at most 16)", errs.ToAggregate())
	}
	p.Spec.Rules = p.Spec.Rules[:16]
	if errs, _ := ValidateL7NetworkPolicy(context.Background(), p, nil, Limits{}); len(errs) > 0 {
		t.Fatalf("16 glob candidates: %v, want admitted", errs.ToAggregate())
	}
}
