package v1alpha1

// Default fills in the defaults the CRD schema gives (mode Enforce,
// defaultAction Deny, rule action Allow), so that policies read from files
// in standalone mode equal what the API server would store. It keeps the
// difference between an omitted and an empty from/http list.
func Default(p *L7NetworkPolicy) {
	if p.Spec.Mode == "" {
		p.Spec.Mode = ModeEnforce
	}
	if p.Spec.DefaultAction == "" {
		p.Spec.DefaultAction = ActionDeny
	}
	for i := range p.Spec.Rules {
		if p.Spec.Rules[i].Action == "" {
			p.Spec.Rules[i].Action = ActionAllow
		}
	}
}
