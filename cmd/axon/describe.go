package main

import (
	"fmt"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/table"
)

// policyOf returns the loaded policy a table rule belongs to, or nil.
func (l *loaded) policyOf(r table.Rule) *v1alpha1.L7NetworkPolicy {
	for i := range l.set.Policies {
		if p := &l.set.Policies[i]; p.Namespace == r.Namespace && p.Name == r.Policy {
			return p
		}
	}
	return nil
}

// rule returns the table rule with id, or nil for 0 or an unknown id.
func (l *loaded) rule(id table.RuleID) *table.Rule {
	if id == 0 || int(id) > len(l.table.Rules) {
		return nil
	}
	return &l.table.Rules[id-1]
}

// describeRule names a rule the way its author wrote it, with its mode and
// origin: "shop/orders-api rules[0] (Allow, Enforce) at api-allowlist.yaml:17".
func (l *loaded) describeRule(id table.RuleID) string {
	r := l.rule(id)
	if r == nil {
		return "no rule"
	}
	what := fmt.Sprintf("rules[%d]", r.Index)
	switch p := l.policyOf(*r); {
	case r.Index < 0:
		what = "defaultAction"
	case p != nil && p.Spec.Rego != nil:
		what = "rego `allow`"
		if r.Action == table.ActionDeny {
			what = "rego `deny`"
		}
	}
	mode := "Enforce"
	if r.Mode == table.ModeAudit {
		mode = "Audit"
	}
	s := fmt.Sprintf("%s/%s %s (%s, %s)", r.Namespace, r.Policy, what, capitalized(actionString(r.Action)), mode)
	if r.Origin != "" {
		s += " at " + r.Origin
	}
	return s
}

func capitalized(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
