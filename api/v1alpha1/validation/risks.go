package validation

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/httppath"
)

// risks adds warnings about valid policies that probably do not do what
// their author meant: an Enforce allow-list without an Allow rule, an exact
// path that a prefix makes irrelevant, a Deny of GET that leaves HEAD. They are warnings, not errors: each
// can be deliberate. A glob that no canonical path can match is an error,
// not a warning: pathMatch rejects it (TestEveryValidGlobCanMatch).
func (v *validator) risks(s *v1alpha1.L7NetworkPolicySpec, p *field.Path) {
	if s.Rego != nil || len(s.Rules) == 0 || len(v.errs) > 0 {
		// Rego: the module decides; no rules: spec() already warned;
		// errors: the author has those to fix first.
		return
	}
	if orDefault(string(s.Mode), string(v1alpha1.ModeEnforce)) == string(v1alpha1.ModeEnforce) &&
		orDefault(string(s.DefaultAction), string(v1alpha1.ActionDeny)) == string(v1alpha1.ActionDeny) &&
		!slices.ContainsFunc(s.Rules, func(r v1alpha1.Rule) bool { return actionOf(r.Action) == v1alpha1.ActionAllow }) {
		v.warn(p.Child("rules"), "Enforce policy with defaultAction Deny and no Allow rule: every request to the selected pods' ports is denied")
	}
	v.shadowedExacts(s.Rules, p.Child("rules"))
	v.getWithoutHead(s.Rules, p.Child("rules"))
}

// getWithoutHead warns about a Deny rule that lists GET but not HEAD.
// Methods are exact tokens, but most servers answer HEAD by running the
// GET handler (Go's ServeMux since Go 1.22, Flask, Express, nginx for
// static files): a request the author meant to deny still runs as HEAD.
func (v *validator) getWithoutHead(rules []v1alpha1.Rule, p *field.Path) {
	for i, r := range rules {
		if actionOf(r.Action) != v1alpha1.ActionDeny {
			continue
		}
		for j, h := range r.HTTP {
			if slices.Contains(h.Methods, "GET") && !slices.Contains(h.Methods, "HEAD") {
				v.warn(p.Index(i).Child("http").Index(j).Child("methods"),
					"denies GET but not HEAD: most servers run the GET handler for HEAD (Go's ServeMux, Flask, Express); add HEAD to deny both")
			}
		}
	}
}

func actionOf(a v1alpha1.RuleAction) v1alpha1.RuleAction {
	if a == "" {
		return v1alpha1.ActionAllow
	}
	return a
}

// shadowedExacts warns about an exact path that a prefix covering it makes
// irrelevant: in the same rule (with at least its methods), or in a rule for
// every source whose action wins or is the same (a Deny prefix beats an
// Allow exact; an Allow prefix repeats an Allow exact).
func (v *validator) shadowedExacts(rules []v1alpha1.Rule, p *field.Path) {
	for i, ri := range rules {
		for j, hj := range ri.HTTP {
			for m, pm := range hj.Paths {
				if pm.Exact == "" || pm.Exact == "*" {
					continue
				}
				exact := httppath.Canonical(pm.Exact)
				if at, pfx, ok := shadowOf(rules, i, hj.Methods, exact, p); ok {
					v.warn(p.Index(i).Child("http").Index(j).Child("paths").Index(m).Child("exact"),
						"%s is covered by prefix %s at %s: this exact path never changes a verdict", pm.Exact, pfx, at)
				}
			}
		}
	}
}

func shadowOf(rules []v1alpha1.Rule, i int, methods []string, exact string, p *field.Path) (*field.Path, string, bool) {
	ai := actionOf(rules[i].Action)
	for k, rk := range rules {
		ak := actionOf(rk.Action)
		if k != i && (rk.From != nil || (ak != v1alpha1.ActionDeny && ak != ai)) {
			continue
		}
		for l, hl := range rk.HTTP {
			if !coversMethods(hl.Methods, methods) {
				continue
			}
			for n, pm := range hl.Paths {
				if pm.Prefix != "" && PrefixMatches(httppath.Canonical(pm.Prefix), exact) {
					return p.Index(k).Child("http").Index(l).Child("paths").Index(n).Child("prefix"), pm.Prefix, true
				}
			}
		}
	}
	return nil, "", false
}

// coversMethods reports whether every method of inner is one of outer's
// (nil: any method).
func coversMethods(outer, inner []string) bool {
	if outer == nil {
		return true
	}
	if inner == nil {
		return false
	}
	for _, m := range inner {
		if !slices.Contains(outer, m) {
			return false
		}
	}
	return true
}

// PrefixMatches reports whether a prefix pattern matches path, segment-wise
// as docs/semantics.md says: /api/v1 matches /api/v1 and /api/v1/x, not
// /api/v1x; a trailing slash is ignored; / matches every path. Both are in
// canonical form.
func PrefixMatches(prefix, path string) bool {
	pfx := strings.TrimSuffix(prefix, "/")
	return pfx == "" || path == pfx || strings.HasPrefix(path, pfx+"/")
}
