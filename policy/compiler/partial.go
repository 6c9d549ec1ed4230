package compiler

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	regolib "github.com/axon-dev/axon/policy/rego"
	"github.com/axon-dev/axon/policy/table"
)

var unknowns = []string{"input.method", "input.path", "input.source"}

// partialEval partially evaluates the library's matched rules for one
// destination with only the policies protecting it in data, and parses the
// residual queries.
func partialEval(ctx context.Context, c *ast.Compiler, env *dataEnv, nsData map[string]any, pols []any, dest map[string]any, rules map[ruleKey]table.RuleID) ([]*conj, error) {
	store := inmem.NewFromObjectWithOpts(env.root(map[string]any{"policies": pols, "namespaces": nsData}), inmem.OptReturnASTValuesOnRead(true))
	r := rego.New(
		rego.Compiler(c),
		rego.Store(store),
		rego.Query(regolib.MatchedRef+"[x]"),
		rego.Unknowns(unknowns),
		rego.Input(map[string]any{"destination": dest}),
	)
	pq, err := r.Partial(ctx)
	if err != nil {
		return nil, fmt.Errorf("partial evaluation: %w", err)
	}
	if err := supportError(pq.Support); err != nil {
		return nil, err
	}
	out := make([]*conj, 0, len(pq.Queries))
	for _, q := range pq.Queries {
		cj, err := parseQuery(q, rules)
		if err != nil {
			return nil, err
		}
		out = append(out, cj)
	}
	return out, nil
}

// supportError is the error for support rules: conditions partial
// evaluation could not inline into the queries.
func supportError(support []*ast.Module) error {
	for _, m := range support {
		for _, rule := range m.Rules {
			e := &Error{Construct: rule.String(), Msg: "condition over the request that partial evaluation cannot inline (typically `not` of a condition with several request tests)", Hint: "split the negated condition into single tests, or write it as a separate deny rule", Kind: ErrUnsupported}
			if rule.Location != nil {
				e.File, e.Line = rule.Location.File, rule.Location.Row
			}
			return e
		}
	}
	return nil
}
