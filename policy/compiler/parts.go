package compiler

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	regolib "github.com/axon-dev/axon/policy/rego"
)

// Partial evaluation by rule part. The library matches a rule of an
// L7NetworkPolicy when its from part and its http part match
// (rule_matches(p, r) is from_matches(p, r) and http_matches(r)), so a rule's
// residual queries are the products of its parts' residual queries. Rules of
// different policies share parts far more often than whole policies repeat:
// each distinct part is partially evaluated once, many to one evaluation.
// Policies written in Rego are evaluated whole.

type partKind uint8

const (
	partFrom partKind = iota // from_matches(p, r)
	partHTTP                 // http_matches(r)
)

// libraryPackage is the library's package.
const libraryPackage = "data.axon.authz"

// partQueries are the library calls a batch of parts is evaluated with; x
// indexes data.axon.parts.
var partQueries = [...]string{
	partFrom: libraryPackage + ".from_matches(data.axon.parts[x].p, data.axon.parts[x].r)",
	partHTTP: libraryPackage + ".http_matches(data.axon.parts[x].r)",
}

// part is one distinct rule part: what OPA sees of the rule and its policy
// (JSON fields, nil when absent), so equal parts have equal residuals.
type part struct {
	key      string // kind and fields: equal keys, equal parts
	kind     partKind
	ns       json.RawMessage // partFrom: the policy's metadata.namespace
	action   json.RawMessage // partFrom
	from     json.RawMessage // partFrom
	http     json.RawMessage // partHTTP
	cacheKey string
	bodies   []*conj // its residual queries, without a rule
	err      error
}

// value is the part as the library sees it: data.axon.parts[x].
func (pt *part) value() (map[string]any, error) {
	obj := func(fields ...any) (map[string]any, error) {
		m := map[string]any{}
		for i := 0; i < len(fields); i += 2 {
			raw := fields[i+1].(json.RawMessage)
			if raw == nil {
				continue
			}
			var v any
			if err := util.UnmarshalJSON(raw, &v); err != nil {
				return nil, fmt.Errorf("decoding rule part: %w", err)
			}
			m[fields[i].(string)] = v
		}
		return m, nil
	}
	if pt.kind == partHTTP {
		r, err := obj("http", pt.http)
		return map[string]any{"r": r}, err
	}
	r, err := obj("action", pt.action, "from", pt.from)
	if err != nil {
		return nil, err
	}
	meta, err := obj("namespace", pt.ns)
	if err != nil {
		return nil, err
	}
	p := map[string]any{}
	if pt.ns != nil {
		p["metadata"] = meta
	}
	return map[string]any{"p": p, "r": r}, nil
}

// ruleParts is the from and http part of each rule of a policy.
type ruleParts [][2]*part

// rawPolicy is what parts are cut from in a policy's JSON.
type rawPolicy struct {
	Metadata map[string]json.RawMessage `json:"metadata"`
	Spec     struct {
		Rules []map[string]json.RawMessage `json:"rules"`
	} `json:"spec"`
}

// splitRules finds the parts of the rules of the L7NetworkPolicy ps[pi],
// adding new ones to byKey and parts.
func splitRules(ps []*policy, pi int, byKey map[string]*part, parts *[]*part) (ruleParts, error) {
	var p rawPolicy
	if err := json.Unmarshal(ps[pi].raw, &p); err != nil {
		return nil, fmt.Errorf("decoding policy %s: %w", ps[pi].key, err)
	}
	out := make(ruleParts, len(p.Spec.Rules))
	var b strings.Builder
	field := func(raw json.RawMessage) {
		if raw == nil {
			b.WriteByte('-') // JSON values never start with '-' alone nor hold a 0 byte
		} else {
			b.WriteByte('=')
			b.Write(raw)
		}
		b.WriteByte(0)
	}
	for i, r := range p.Spec.Rules {
		from := &part{kind: partFrom, action: r["action"], from: r["from"]}
		if from.from == nil || peersNeedNamespace(from.from) {
			from.ns = p.Metadata["namespace"]
		}
		httpPart := &part{kind: partHTTP, http: r["http"]}
		for k, pt := range [2]*part{partFrom: from, partHTTP: httpPart} {
			b.Reset()
			b.WriteByte(byte('0' + k))
			field(pt.ns)
			field(pt.action)
			field(pt.from)
			field(pt.http)
			pt.key = b.String()
			if old, ok := byKey[pt.key]; ok {
				pt = old
			} else {
				byKey[pt.key] = pt
				*parts = append(*parts, pt)
			}
			out[i][k] = pt
		}
	}
	return out, nil
}

// peersNeedNamespace says whether some peer of from may be matched against
// the policy's namespace: one with neither a namespaceSelector nor an
// ipBlock. The others' parts leave the namespace out, so that equal peers of
// policies in different namespaces share one evaluation. This follows the
// library (namespace_matches reads the policy's namespace only for peers
// without a namespaceSelector); were it to read it elsewhere, the part would
// see no namespace and TestPartsMatchWholePolicies would fail.
func peersNeedNamespace(from json.RawMessage) bool {
	var peers []map[string]json.RawMessage
	if err := json.Unmarshal(from, &peers); err != nil {
		return true
	}
	for _, peer := range peers {
		_, nsSel := peer["namespaceSelector"]
		_, block := peer["ipBlock"]
		if !nsSel && !block {
			return true
		}
	}
	return false
}

// evalParts partially evaluates a batch of parts of one kind, setting each
// part's bodies (or err on all of them).
func evalParts(ctx context.Context, c *ast.Compiler, env *dataEnv, nsData map[string]any, batch []*part) {
	fail := func(err error) {
		for _, pt := range batch {
			pt.err = err
		}
	}
	vals := make([]any, len(batch))
	for i, pt := range batch {
		v, err := pt.value()
		if err != nil {
			fail(err)
			return
		}
		vals[i] = v
	}
	store := inmem.NewFromObjectWithOpts(env.root(map[string]any{"parts": vals, "namespaces": nsData}), inmem.OptReturnASTValuesOnRead(true))
	r := rego.New(
		rego.Compiler(c),
		rego.Store(store),
		rego.Query(partQueries[batch[0].kind]),
		rego.Unknowns(unknowns),
	)
	pq, err := r.Partial(ctx)
	if err != nil {
		fail(fmt.Errorf("partial evaluation: %w", err))
		return
	}
	if err := supportError(pq.Support); err != nil {
		fail(err)
		return
	}
	for _, pt := range batch {
		pt.bodies = []*conj{}
	}
	for _, q := range pq.Queries {
		i, cj, err := parsePartQuery(q)
		if err == nil && (i < 0 || i >= len(batch)) {
			err = fmt.Errorf("residual query names no part: %v", q)
		}
		if err != nil {
			// Name the part's policy when the query says which part.
			if i >= 0 && i < len(batch) {
				batch[i].err = err
				continue
			}
			fail(err)
			return
		}
		batch[i].bodies = append(batch[i].bodies, cj)
	}
}

// parsePartQuery parses one residual query of a part batch: x = index and
// the part's tests.
func parsePartQuery(body ast.Body) (int, *conj, error) {
	c := &conj{}
	index := -1
	for _, e := range body {
		if len(e.With) > 0 {
			return index, nil, unsupported(e, "`with` in a residual condition")
		}
		if i, ok := partIndex(e); ok {
			index = i
			continue
		}
		if err := c.addExpr(e, nil); err != nil {
			return index, nil, err
		}
	}
	if index < 0 {
		return index, nil, fmt.Errorf("residual query binds no part: %v", body)
	}
	return index, c, nil
}

// partIndex recognises x = N.
func partIndex(e *ast.Expr) (int, bool) {
	if e.Negated || !e.IsEquality() {
		return 0, false
	}
	a, b := e.Operand(0), e.Operand(1)
	if _, ok := b.Value.(ast.Var); ok {
		a, b = b, a
	}
	if v, ok := a.Value.(ast.Var); !ok || !v.Equal(ast.Var("x")) {
		return 0, false
	}
	n, ok := b.Value.(ast.Number)
	if !ok {
		return 0, false
	}
	i, ok := n.Int()
	return i, ok
}

// joinParts is the residual query of a rule under a from query f and an
// http query h.
func joinParts(f, h *conj, key ruleKey) *conj {
	c := &conj{key: key}
	c.src = append(append(make([]srcAtom, 0, len(f.src)+len(h.src)), f.src...), h.src...)
	c.methods = append(append(make([]methodCons, 0, len(f.methods)+len(h.methods)), f.methods...), h.methods...)
	c.paths = append(append(make([]pathAtom, 0, len(f.paths)+len(h.paths)), f.paths...), h.paths...)
	c.finish()
	return c
}

// libraryHasParts says whether the library's rule_matches is the conjunction
// of from_matches and http_matches that evaluation by part relies on; when
// it is not, policies are evaluated whole.
var libraryHasParts = sync.OnceValue(libraryHasPartsUncached)

func libraryHasPartsUncached() bool {
	n, ok := 0, false
	for name, text := range regolib.Modules() {
		m, err := ast.ParseModuleWithOpts(name, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil || m.Package.Path.String() != libraryPackage {
			continue
		}
		for _, r := range m.Rules {
			if r.Head.Name.String() != "rule_matches" {
				continue
			}
			n++
			ok = len(r.Head.Args) == 2 && r.Head.Args[0].String() == "p" && r.Head.Args[1].String() == "r" &&
				len(r.Body) == 2 && r.Body[0].String() == "from_matches(p, r)" && r.Body[1].String() == "http_matches(r)" &&
				r.Else == nil
		}
	}
	return n == 1 && ok
}
