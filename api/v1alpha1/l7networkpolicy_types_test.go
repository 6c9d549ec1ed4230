package v1alpha1

import (
	"testing"

	"sigs.k8s.io/yaml"
)

// An omitted `from` means any source and `from: []` means none: the two must
// survive decoding and re-encoding as different values.
func TestFromOmittedAndEmptyStayDistinct(t *testing.T) {
	const doc = `
spec:
  podSelector: {}
  ports: [{port: 8080}]
  rules:
  - action: Allow
  - action: Deny
    from: []
    http: []
`
	var p L7NetworkPolicy
	if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	check := func(p *L7NetworkPolicy, stage string) {
		t.Helper()
		r := p.Spec.Rules
		if r[0].From != nil || r[0].HTTP != nil {
			t.Errorf("%s: omitted from/http decoded as %#v / %#v, want nil", stage, r[0].From, r[0].HTTP)
		}
		if r[1].From == nil || len(r[1].From) != 0 || r[1].HTTP == nil || len(r[1].HTTP) != 0 {
			t.Errorf("%s: from: [] / http: [] decoded as %#v / %#v, want empty non-nil", stage, r[1].From, r[1].HTTP)
		}
	}
	check(&p, "decode")
	check(p.DeepCopy(), "deepcopy")

	out, err := yaml.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	var back L7NetworkPolicy
	if err := yaml.UnmarshalStrict(out, &back); err != nil {
		t.Fatal(err)
	}
	check(&back, "round trip")
}

func TestDefaultFillsSchemaDefaults(t *testing.T) {
	p := L7NetworkPolicy{Spec: L7NetworkPolicySpec{
		Rules: []Rule{{}, {Action: ActionDeny}},
	}}
	Default(&p)
	if p.Spec.Mode != ModeEnforce || p.Spec.DefaultAction != ActionDeny {
		t.Errorf("spec defaults = %q, %q; want Enforce, Deny", p.Spec.Mode, p.Spec.DefaultAction)
	}
	if p.Spec.Rules[0].Action != ActionAllow || p.Spec.Rules[1].Action != ActionDeny {
		t.Errorf("rule actions = %q, %q; want Allow, Deny", p.Spec.Rules[0].Action, p.Spec.Rules[1].Action)
	}
}
