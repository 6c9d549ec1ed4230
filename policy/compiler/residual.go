package compiler

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/axon-dev/axon/api/v1alpha1/validation"
	"github.com/axon-dev/axon/policy/httppath"
	"github.com/axon-dev/axon/policy/table"
)

type srcKind uint8

const (
	srcIsPod     srcKind = iota // input.source.namespace is defined
	srcNamespace                // input.source.namespace in values
	srcLabel                    // input.source.labels[key] == s
	srcLabelIn                  // input.source.labels[key] in values
	srcHasLabel                 // input.source.labels[key] is defined
	srcCIDR                     // net.cidr_contains(prefix, input.source.ip)
)

// srcAtom is one test on the source, possibly negated.
type srcAtom struct {
	kind   srcKind
	key    string
	values []string // srcLabel: one value; srcNamespace, srcLabelIn: sorted
	prefix netip.Prefix
	neg    bool
	loc    *ast.Location
}

func (a srcAtom) String() string {
	s := fmt.Sprintf("%d|%s|%s|%s", a.kind, a.key, strings.Join(a.values, "\x01"), a.prefix)
	if a.neg {
		return "!" + s
	}
	return s
}

type pathKind uint8

const (
	pathExact  pathKind = iota // input.path == s
	pathStarts                 // startswith(input.path, s)
	pathGlob                   // glob.match(s, ["/"], input.path)
)

type pathAtom struct {
	kind pathKind
	s    string
	neg  bool
	loc  *ast.Location
}

// methodCons says the method is (or, negated, is not) one of set.
type methodCons struct {
	set []string
	neg bool
}

// conj is one residual query: a conjunction of tests under which one rule
// matches.
type conj struct {
	key     ruleKey
	rule    table.RuleID
	src     []srcAtom
	srcKey  string
	content string // everything but the rule, for cache keys
	methods []methodCons
	paths   []pathAtom
}

const fragmentHint = "supported: ==, in on input.method; ==, startswith, glob.match(p, [\"/\"], _) on input.path; " +
	"input.source.namespace, input.source.labels[k] tests, net.cidr_contains(cidr, input.source.ip); and `not` of those"

func unsupported(e *ast.Expr, msg string) *Error {
	err := &Error{Construct: e.String(), Msg: msg, Hint: fragmentHint, Kind: ErrUnsupported}
	if e.Location != nil {
		err.File, err.Line = e.Location.File, e.Location.Row
	}
	return err
}

// inputPath returns the path of a ref under input (["source","labels","app"])
// or nil when t is not such a ref with constant string keys.
func inputPath(t *ast.Term) []string {
	r, ok := t.Value.(ast.Ref)
	if !ok || len(r) == 0 || !r[0].Equal(ast.InputRootDocument) {
		return nil
	}
	out := []string{}
	for _, x := range r[1:] {
		s, ok := x.Value.(ast.String)
		if !ok {
			return nil
		}
		out = append(out, string(s))
	}
	return out
}

func isPath(p []string, want ...string) bool {
	if len(p) != len(want) {
		return false
	}
	for i := range p {
		if p[i] != want[i] {
			return false
		}
	}
	return true
}

func isLabel(p []string) bool { return len(p) == 3 && p[0] == "source" && p[1] == "labels" }

func stringOf(t *ast.Term) (string, bool) {
	s, ok := t.Value.(ast.String)
	return string(s), ok
}

func stringsOf(t *ast.Term) ([]string, bool) {
	var out []string
	ok := true
	add := func(x *ast.Term) {
		s, isStr := x.Value.(ast.String)
		if !isStr {
			ok = false
		}
		out = append(out, string(s))
	}
	switch v := t.Value.(type) {
	case ast.Set:
		v.Foreach(add)
	case *ast.Array:
		v.Foreach(add)
	default:
		return nil, false
	}
	sort.Strings(out)
	return out, ok
}

// parseQuery turns one residual query of data.axon.authz.matched[x] into a
// conj; rules maps the rule refs bound to x to rule IDs.
func parseQuery(body ast.Body, rules map[ruleKey]table.RuleID) (*conj, error) {
	c := &conj{}
	for _, e := range body {
		if len(e.With) > 0 {
			return nil, unsupported(e, "`with` in a residual condition")
		}
		if err := c.addExpr(e, rules); err != nil {
			return nil, err
		}
	}
	if c.rule == 0 {
		return nil, fmt.Errorf("residual query binds no rule: %v", body)
	}
	c.finish()
	return c, nil
}

// finish sorts the source tests and computes the keys.
func (c *conj) finish() {
	sort.Slice(c.src, func(i, j int) bool { return c.src[i].String() < c.src[j].String() })
	keys := make([]string, len(c.src))
	for i, a := range c.src {
		keys[i] = a.String()
	}
	c.srcKey = strings.Join(keys, "\x02")
	var b strings.Builder
	b.WriteString(c.srcKey)
	for _, m := range c.methods {
		fmt.Fprintf(&b, "\x03%v%q", m.neg, m.set)
	}
	for _, a := range c.paths {
		fmt.Fprintf(&b, "\x04%d%v%q", a.kind, a.neg, a.s)
	}
	c.content = b.String()
}

func (c *conj) addExpr(e *ast.Expr, rules map[ruleKey]table.RuleID) error {
	if t, ok := e.Terms.(*ast.Term); ok {
		p := inputPath(t)
		switch {
		case isPath(p, "source", "namespace"), isPath(p, "source", "labels"):
			// Both are present exactly for known pods.
			c.src = append(c.src, srcAtom{kind: srcIsPod, neg: e.Negated, loc: e.Location})
			return nil
		case isLabel(p):
			c.src = append(c.src, srcAtom{kind: srcHasLabel, key: p[2], neg: e.Negated, loc: e.Location})
			return nil
		}
		return unsupported(e, "test of a value the compiler cannot map to the decision table")
	}
	if !e.IsCall() {
		return unsupported(e, "expression kind")
	}
	op := e.Operator().String()
	args := e.Operands()
	switch op {
	case "eq", "equal", "neq":
		if len(args) != 2 {
			return unsupported(e, "comparison")
		}
		a, b := args[0], args[1]
		if v, ok := b.Value.(ast.Var); ok && op == "eq" && !e.Negated && v.Equal(ast.Var("x")) {
			a, b = b, a
		}
		if v, ok := a.Value.(ast.Var); ok && op == "eq" && !e.Negated && v.Equal(ast.Var("x")) {
			return c.bindRule(e, b, rules)
		}
		if inputPath(a) == nil {
			a, b = b, a
		}
		p := inputPath(a)
		s, ok := stringOf(b)
		if p == nil || !ok {
			return unsupported(e, "comparison of input with something other than a string constant")
		}
		neg := e.Negated != (op == "neq")
		if op == "neq" && !isPath(p, "method") && !isPath(p, "path") {
			return unsupported(e, "!= on a source attribute (false when the attribute is absent)")
		}
		switch {
		case isPath(p, "method"):
			if len(s) > table.MaxMethodLen {
				return unsupported(e, fmt.Sprintf("method longer than %d bytes", table.MaxMethodLen))
			}
			c.methods = append(c.methods, methodCons{set: []string{s}, neg: neg})
		case isPath(p, "path"):
			if len(s) > table.MaxPathKey-1 {
				return unsupported(e, fmt.Sprintf("exact path longer than %d bytes", table.MaxPathKey-1))
			}
			if why := notCanonicalForm(s); why != "" {
				return unsupported(e, why)
			}
			c.paths = append(c.paths, pathAtom{kind: pathExact, s: s, neg: neg, loc: e.Location})
		case isPath(p, "source", "namespace"):
			c.src = append(c.src, srcAtom{kind: srcNamespace, values: []string{s}, neg: neg, loc: e.Location})
		case isLabel(p):
			c.src = append(c.src, srcAtom{kind: srcLabel, key: p[2], values: []string{s}, neg: neg, loc: e.Location})
		default:
			return unsupported(e, "comparison on an input attribute outside method, path, source.namespace, source.labels")
		}
		return nil
	case "internal.member_2":
		p := inputPath(args[0])
		set, ok := stringsOf(args[1])
		if p == nil || !ok {
			return unsupported(e, "membership test other than input attribute in a constant set of strings")
		}
		switch {
		case isPath(p, "method"):
			for _, m := range set {
				if len(m) > table.MaxMethodLen {
					return unsupported(e, fmt.Sprintf("method longer than %d bytes", table.MaxMethodLen))
				}
			}
			c.methods = append(c.methods, methodCons{set: set, neg: e.Negated})
		case isPath(p, "source", "namespace"):
			c.addPresent(e, srcAtom{kind: srcIsPod, loc: e.Location})
			c.src = append(c.src, srcAtom{kind: srcNamespace, values: set, neg: e.Negated, loc: e.Location})
		case isLabel(p):
			c.addPresent(e, srcAtom{kind: srcHasLabel, key: p[2], loc: e.Location})
			c.src = append(c.src, srcAtom{kind: srcLabelIn, key: p[2], values: set, neg: e.Negated, loc: e.Location})
		default:
			return unsupported(e, "membership test on an input attribute other than method, source.namespace or source.labels")
		}
		return nil
	case "startswith":
		s, ok := stringOf(args[1])
		if !isPath(inputPath(args[0]), "path") || !ok {
			return unsupported(e, "startswith other than on input.path with a constant prefix")
		}
		if len(s) > table.MaxPathKey {
			return unsupported(e, fmt.Sprintf("prefix longer than %d bytes", table.MaxPathKey))
		}
		if why := notCanonicalForm(s); why != "" {
			return unsupported(e, why)
		}
		c.paths = append(c.paths, pathAtom{kind: pathStarts, s: s, neg: e.Negated, loc: e.Location})
		return nil
	case "glob.match":
		pat, ok := stringOf(args[0])
		delims, ok2 := stringsOf(args[1])
		if !ok || !ok2 || len(delims) != 1 || delims[0] != "/" || !isPath(inputPath(args[2]), "path") {
			return unsupported(e, "glob.match other than glob.match(constant, [\"/\"], input.path)")
		}
		if err := validation.GlobPattern(pat); err != nil {
			return unsupported(e, "glob "+err.Error())
		}
		if why := notCanonicalForm(pat); why != "" {
			return unsupported(e, why)
		}
		if e.Negated {
			return unsupported(e, "negated glob")
		}
		if !strings.ContainsAny(pat, "*?") {
			c.paths = append(c.paths, pathAtom{kind: pathExact, s: pat, loc: e.Location})
			return nil
		}
		c.paths = append(c.paths, pathAtom{kind: pathGlob, s: pat, loc: e.Location})
		return nil
	case "object.subset":
		return c.addSubset(e, args)
	case "net.cidr_contains":
		s, ok := stringOf(args[0])
		if !ok || !isPath(inputPath(args[1]), "source", "ip") {
			return unsupported(e, "net.cidr_contains other than net.cidr_contains(constant cidr, input.source.ip)")
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return unsupported(e, "bad CIDR")
		}
		if pfx.Addr().Is4In6() {
			// OPA matches IPv4 addresses against it, the datapath does not.
			return unsupported(e, "IPv4-mapped IPv6 CIDR (write the IPv4 CIDR)")
		}
		c.src = append(c.src, srcAtom{kind: srcCIDR, prefix: pfx.Masked(), neg: e.Negated, loc: e.Location})
		return nil
	}
	return unsupported(e, "built-in "+op)
}

func (c *conj) bindRule(e *ast.Expr, t *ast.Term, rules map[ruleKey]table.RuleID) error {
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return unsupported(e, "rule binding")
	}
	get := func(key string) *ast.Term {
		if v := obj.Get(ast.StringTerm(key)); v != nil {
			return v
		}
		return ast.NullTerm()
	}
	var k ruleKey
	k.ns, _ = stringOf(get("namespace"))
	k.name, _ = stringOf(get("policy"))
	if n, ok := get("index").Value.(ast.Number); ok {
		k.index, _ = n.Int()
	}
	id, ok := rules[k]
	if !ok {
		return fmt.Errorf("residual query names unknown rule %v", t)
	}
	c.rule, c.key = id, k
	return nil
}

// notCanonicalForm says why a path literal of a residual is not in the
// canonical form requests are compared in ("" when it is): such a literal
// could never equal a request's path (the library brings the patterns of
// L7NetworkPolicy rules to canonical form; a Rego module must write them so).
func notCanonicalForm(s string) string {
	for i := 0; i < len(s); i++ {
		// Bytes no canonical request path has. A NUL would also make the
		// literal's row key another row's: an exact row's key is its path
		// and a NUL.
		if c := s[i]; httppath.NeverInPath(c) {
			return fmt.Sprintf("path %q has byte %q at offset %d, which no canonical request path has", s, c, i)
		}
	}
	if c := httppath.Canonical(s); c != s {
		return fmt.Sprintf("path %q is not in canonical form; write %q", s, c)
	}
	return ""
}

// addSubset adds object.subset(input.source.labels, {"k": "v", ...}): every
// label k present with value v ({} : the source is a known pod).
func (c *conj) addSubset(e *ast.Expr, args []*ast.Term) error {
	obj, ok := args[1].Value.(ast.Object)
	if !ok || !isPath(inputPath(args[0]), "source", "labels") {
		return unsupported(e, "object.subset other than object.subset(input.source.labels, constant object)")
	}
	var atoms []srcAtom
	bad := false
	obj.Foreach(func(k, v *ast.Term) {
		ks, ok1 := stringOf(k)
		vs, ok2 := stringOf(v)
		if !ok1 || !ok2 {
			bad = true
			return
		}
		atoms = append(atoms, srcAtom{kind: srcLabel, key: ks, values: []string{vs}, neg: e.Negated, loc: e.Location})
	})
	switch {
	case bad:
		return unsupported(e, "object.subset of labels with values other than strings")
	case len(atoms) == 0:
		atoms = []srcAtom{{kind: srcIsPod, neg: e.Negated, loc: e.Location}}
	case len(atoms) > 1 && e.Negated:
		return unsupported(e, "negated object.subset of several labels")
	}
	c.addPresent(e, srcAtom{kind: srcIsPod, loc: e.Location})
	c.src = append(c.src, atoms...)
	return nil
}

// addPresent adds, for a negated built-in call (e), the test that its
// source argument is present. OPA evaluates `not f(input.source.x, ...)`
// as false when input.source.x is undefined (the call has no value, which
// `not` does not turn into true), unlike `not input.source.x == "v"`,
// which is true then: an external source (no namespace, no labels) or a pod
// without the label never satisfies the negated call.
func (c *conj) addPresent(e *ast.Expr, present srcAtom) {
	if e.Negated {
		c.src = append(c.src, present)
	}
}
