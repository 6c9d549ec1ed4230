package compiler

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/axon-dev/axon/policy/table"
	"github.com/open-policy-agent/opa/v1/ast"
)

// group is the set of targets with the same protecting policies (and, when
// one of them is written in Rego, the same destination attributes): they share
// one partial evaluation and one set of rows.
type group struct {
	policies []int
	targets  []*target
	conjs    []*conj
	classes  []table.SourceClass // Endpoint unset
	rows     []table.PathRow     // Endpoint unset
}

// Compile compiles the input into a decision table. Errors about the policies
// are *Error values (errors.Is ErrUnsupported or ErrInvalid).
func Compile(ctx context.Context, in *Input, opts ...Option) (*table.Table, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o.cache.begin()
	ps, rules, err := preparePolicies(in, o.cache)
	if err != nil {
		return nil, err
	}
	pods, warns := knownPods(in)
	nsLabels := namespaceLabels(in, pods, ps)
	env, err := newDataEnv(in)
	if err != nil {
		return nil, err
	}
	// Compile once here (or not, when the cache compiled these modules)
	// so that a broken module fails before any work.
	libKey, err := o.cache.checkLibrary(ps, env)
	if err != nil {
		return nil, err
	}
	compilers := compilerPool{
		get: func() (*ast.Compiler, error) {
			if comp := o.cache.takeCompiler(libKey); comp != nil {
				return comp, nil
			}
			return libraryCompiler(ps, env)
		},
		put: func(comp *ast.Compiler) { o.cache.giveCompiler(libKey, comp) },
	}
	ruleIDs := make(map[ruleKey]table.RuleID, len(rules))
	for _, r := range rules {
		ruleIDs[ruleKey{r.Namespace, r.Policy, r.Index}] = r.ID
	}
	nsData := make(map[string]any, len(nsLabels))
	for n, l := range nsLabels {
		nsData[n] = labelsAny(l)
	}

	// Group the targets by protecting policies.
	var groups []*group
	byKey := map[string]*group{}
	tgs := targets(pods, ps)
	protects := make([]bool, len(ps))
	for _, t := range tgs {
		for _, i := range t.policies {
			protects[i] = true
		}
	}
	for i, p := range ps {
		if !protects[i] {
			warns = append(warns, fmt.Sprintf("policy %s selects no known pod: it polices nothing", p.key))
		}
	}
	for _, t := range tgs {
		var b strings.Builder
		for _, i := range t.policies {
			b.WriteString(strconv.Itoa(i))
			b.WriteByte(',')
			if ps[i].module != nil {
				fmt.Fprintf(&b, "%d|%s|", t.port, podKey(t.pod.ns, t.pod.labels))
			}
		}
		g, ok := byKey[b.String()]
		if !ok {
			g = &group{policies: t.policies}
			byKey[b.String()] = g
			groups = append(groups, g)
		}
		g.targets = append(g.targets, t)
	}
	// Partially evaluate each policy once (Rego policies once per
	// destination): a rule's residual does not depend on the other policies.
	jobs, err := runPartials(ctx, compilers, env, nsData, ps, groups, ruleIDs, o.cache)
	if err != nil {
		return nil, err
	}
	cidrs := map[netip.Prefix]bool{}
	methodNames := map[string]bool{}
	for _, g := range groups {
		for _, pi := range g.policies {
			g.conjs = append(g.conjs, jobs[jobKey(ps[pi], pi, g.targets[0])]...)
		}
		for _, c := range g.conjs {
			for _, a := range c.src {
				if a.kind == srcCIDR {
					cidrs[a.prefix] = true
				}
			}
			for _, m := range c.methods {
				for _, n := range m.set {
					methodNames[n] = true
				}
			}
		}
	}

	t := &table.Table{Rules: rules, Warnings: warns}
	u := buildUniverse(pods, cidrs, o.previous)
	methodIDs, err := assignMethods(t, methodNames, o.previous)
	if err != nil {
		return nil, err
	}
	fillIdentities(t, u, pods)
	epIDs := endpointIDs(groups, o.previous)
	fp := fingerprint(u, methodIDs)
	for _, g := range groups {
		key := g.cacheKey(fp, t.Rules)
		if cr, ok := o.cache.getGroup(key); ok {
			g.classes, g.rows = cr.classes, cr.rows
		} else {
			if err := compileGroup(t, g, u, methodIDs); err != nil {
				return nil, withPolicy(err, ps, g.policies)
			}
			o.cache.putGroup(key, groupResult{g.classes, g.rows})
		}
		addEndpoints(t, g, ps, epIDs)
	}
	emitGroups(t, groups, epIDs)
	sortTable(t)
	o.cache.end()
	return t, nil
}

func labelsAny(l map[string]string) map[string]any {
	m := make(map[string]any, len(l))
	for k, v := range l {
		m[k] = v
	}
	return m
}

// withPolicy names the policy in an *Error without one when a group has a
// single policy.
func withPolicy(err error, ps []*policy, pols []int) error {
	if e, ok := err.(*Error); ok && e.Policy == "" && len(pols) == 1 {
		e.Policy = ps[pols[0]].key
	}
	return err
}
