package compiler

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/axon-dev/axon/policy/table"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// Oracle decides requests by full evaluation of the Rego library with OPA,
// without the table: the source of truth the compiled table is tested
// against, and the "why" of `axon policy explain`.
type Oracle struct {
	query rego.PreparedEvalQuery
	modes rego.PreparedEvalQuery
	rules map[ruleKey]table.RuleID
	pods  map[netip.Addr]*knownPod
	// Rules of the compiled policies, in RuleID order (as in Table.Rules).
	Rules []table.Rule
}

// NewOracle prepares the library, the policies and their modules for full
// evaluation.
func NewOracle(ctx context.Context, in *Input) (*Oracle, error) {
	ps, rules, err := preparePolicies(in, nil)
	if err != nil {
		return nil, err
	}
	pods, _ := knownPods(in)
	env, err := newDataEnv(in)
	if err != nil {
		return nil, err
	}
	comp, err := libraryCompiler(ps, env)
	if err != nil {
		return nil, err
	}
	nsData := map[string]any{}
	for n, l := range namespaceLabels(in, pods, ps) {
		nsData[n] = labelsAny(l)
	}
	pols := make([]any, len(ps))
	for i, p := range ps {
		if pols[i], err = p.value(); err != nil {
			return nil, err
		}
	}
	store := inmem.NewFromObjectWithOpts(env.root(map[string]any{"policies": pols, "namespaces": nsData}), inmem.OptReturnASTValuesOnRead(true))
	q, err := rego.New(rego.Compiler(comp), rego.Store(store),
		rego.Query("d = data.axon.authz.decision"),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing library: %w", err)
	}
	// Requests decided before the rules (non-canonical paths) only need to
	// know whether the endpoint is policed, and in which mode.
	mq, err := rego.New(rego.Compiler(comp), rego.Store(store),
		rego.Query("e = data.axon.authz.enforced; p = data.axon.authz.policed"),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing library: %w", err)
	}
	o := &Oracle{query: q, modes: mq, rules: map[ruleKey]table.RuleID{}, pods: map[netip.Addr]*knownPod{}, Rules: rules}
	for _, r := range rules {
		o.rules[ruleKey{r.Namespace, r.Policy, r.Index}] = r.ID
	}
	for _, kp := range pods {
		for _, ip := range kp.ips {
			o.pods[ip] = kp
		}
	}
	return o, nil
}

// Input is the library input for a request (the path already normalized).
func (o *Oracle) Input(r table.Request, path string) map[string]any {
	src := map[string]any{"ip": r.Src.Unmap().String()}
	if kp := o.pods[r.Src.Unmap()]; kp != nil {
		src["namespace"] = kp.ns
		src["labels"] = labelsAny(kp.labels)
	}
	in := map[string]any{"method": r.Method, "path": path, "source": src}
	if kp := o.pods[r.Dst.Addr().Unmap()]; kp != nil {
		in["destination"] = map[string]any{"namespace": kp.ns, "labels": labelsAny(kp.labels), "port": int(r.Dst.Port())}
	}
	return in
}

// Decide evaluates data.axon.authz.decision for the request.
func (o *Oracle) Decide(ctx context.Context, r table.Request) (table.Decision, error) {
	path, reason := table.NormalizeRequest(r.Method, r.Target)
	in := o.Input(r, path)
	if _, ok := in["destination"]; !ok {
		return table.Decision{Action: table.DecisionAllow}, nil
	}
	if reason != "" {
		rs, err := o.modes.Eval(ctx, rego.EvalInput(in))
		if err != nil || len(rs) != 1 {
			return table.Decision{}, fmt.Errorf("evaluating library: %d results, %v", len(rs), err)
		}
		switch {
		case rs[0].Bindings["e"] == true:
			return table.Decision{Action: table.DecisionDeny, Reason: reason}, nil
		case rs[0].Bindings["p"] == true:
			return table.Decision{Action: table.DecisionAuditDeny, Reason: reason}, nil
		}
		return table.Decision{Action: table.DecisionAllow}, nil
	}
	// A parsed input skips OPA's JSON round trip of the input.
	rs, err := o.query.Eval(ctx, rego.EvalParsedInput(astValue(in)))
	if err != nil {
		return table.Decision{}, fmt.Errorf("evaluating library: %w", err)
	}
	if len(rs) != 1 {
		return table.Decision{}, fmt.Errorf("evaluating library: %d results", len(rs))
	}
	d := rs[0].Bindings["d"].(map[string]any)
	out := table.Decision{}
	switch d["action"] {
	case "allow":
		out.Action = table.DecisionAllow
	case "deny":
		out.Action = table.DecisionDeny
	case "audit_deny":
		out.Action = table.DecisionAuditDeny
	default:
		return table.Decision{}, fmt.Errorf("library decision %v", d)
	}
	if ref, ok := d["rule"].(map[string]any); ok {
		ns, _ := ref["namespace"].(string)
		name, _ := ref["policy"].(string)
		idx, err := toInt(ref["index"])
		if err != nil {
			return table.Decision{}, err
		}
		id, ok := o.rules[ruleKey{ns, name, idx}]
		if !ok {
			return table.Decision{}, fmt.Errorf("library names unknown rule %v", ref)
		}
		out.Rule = id
	}
	return out, nil
}

func toInt(v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case float64:
		return int(n), nil
	case interface{ Int64() (int64, error) }:
		i, err := n.Int64()
		return int(i), err
	}
	return 0, fmt.Errorf("rule index %v", v)
}

// astValue converts the JSON-like values Input builds (maps, strings, ints).
func astValue(v any) ast.Value {
	switch x := v.(type) {
	case map[string]any:
		kvs := make([][2]*ast.Term, 0, len(x))
		for k, e := range x {
			kvs = append(kvs, [2]*ast.Term{ast.StringTerm(k), ast.NewTerm(astValue(e))})
		}
		return ast.NewObject(kvs...)
	case string:
		return ast.String(x)
	case int:
		return ast.Number(strconv.Itoa(x))
	}
	panic(fmt.Sprintf("astValue: unexpected %T", v))
}
