package compiler

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/api/v1alpha1/validation"
	regolib "github.com/axon-dev/axon/policy/rego"
	"github.com/axon-dev/axon/policy/table"
)

// policy is a defaulted, validated policy with its rule IDs.
type policy struct {
	p        v1alpha1.L7NetworkPolicy
	key      string // namespace/name
	mode     table.Mode
	selector labels.Selector
	origin   string
	raw      []byte // json encoded
	rawHash  []byte // sha256 of raw
	// ruleOrigins are the rules' "file:line", from AnnotationRuleOrigins.
	ruleOrigins []string
	text        string // the Rego module's text
	defRule     table.RuleID
	rules       []table.RuleID // by index; Rego policies: [deny, allow]
	module      *ast.Module
}

type ruleKey struct {
	ns, name string
	index    int
}

func splitOrigin(o string) (string, int) {
	i := strings.LastIndexByte(o, ':')
	if i < 0 {
		return o, 0
	}
	n, err := strconv.Atoi(o[i+1:])
	if err != nil {
		return o, 0
	}
	return o[:i], n
}

func (p *policy) errorf(origin, construct, hint, format string, args ...any) *Error {
	if origin == "" {
		origin = p.origin
	}
	f, l := splitOrigin(origin)
	return &Error{File: f, Line: l, Policy: p.key, Construct: construct, Msg: fmt.Sprintf(format, args...), Hint: hint, Kind: ErrInvalid}
}

func (p *policy) ruleOrigin(i int) string {
	if i >= 0 && i < len(p.ruleOrigins) && p.ruleOrigins[i] != "" {
		return p.ruleOrigins[i]
	}
	return p.origin
}

// preparePolicies defaults, validates and sorts the policies, assigns rule
// IDs and parses the Rego modules they reference. A policy whose version
// (Input.PolicyVersions) is in the cache is not prepared again.
func preparePolicies(in *Input, cache *Cache) ([]*policy, []table.Rule, error) {
	ps := make([]*policy, 0, len(in.Policies))
	seen := make(map[string]bool, len(in.Policies))
	for i := range in.Policies {
		src := &in.Policies[i]
		key := src.Namespace + "/" + src.Name
		if seen[key] {
			return nil, nil, (&policy{key: key, origin: src.Annotations[v1alpha1.AnnotationOrigin]}).errorf("", key, "", "duplicate policy")
		}
		seen[key] = true
		p, err := preparePolicy(in, src, key, cache)
		if err != nil {
			return nil, nil, err
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].key < ps[j].key })
	n := 0
	for _, p := range ps {
		n += 1 + max(len(p.p.Spec.Rules), 2)
	}
	rules := make([]table.Rule, 0, n)
	add := func(p *policy, index int, a table.Action, origin string) table.RuleID {
		id := table.RuleID(len(rules) + 1)
		rules = append(rules, table.Rule{ID: id, Namespace: p.p.Namespace, Policy: p.p.Name, Index: index, Action: a, Mode: p.mode, Origin: origin})
		return id
	}
	for _, p := range ps {
		p.defRule = add(p, -1, actionOf(p.p.Spec.DefaultAction), p.origin)
		if p.module != nil {
			p.rules = []table.RuleID{add(p, 0, table.ActionDeny, moduleRuleOrigin(p.module, "deny")), add(p, 1, table.ActionAllow, moduleRuleOrigin(p.module, "allow"))}
			continue
		}
		p.rules = make([]table.RuleID, 0, len(p.p.Spec.Rules))
		for i, r := range p.p.Spec.Rules {
			p.rules = append(p.rules, add(p, i, actionOf(r.Action), p.ruleOrigin(i)))
		}
	}
	return ps, rules, nil
}

// preparePolicy defaults, validates and encodes one policy, or copies what
// the cache kept of it when its version is unchanged. Rego policies are
// prepared every time: their module is read from in.Modules, which the
// version does not cover. The result's rule IDs are unset.
func preparePolicy(in *Input, src *v1alpha1.L7NetworkPolicy, key string, cache *Cache) (*policy, error) {
	version := ""
	if src.Spec.Rego == nil {
		version = in.PolicyVersions[key]
	}
	if version != "" {
		if cp, ok := cache.getPolicy(key, version); ok {
			p := *cp
			return &p, nil
		}
	}
	cp := src.DeepCopy()
	v1alpha1.Default(cp)
	p := &policy{p: *cp, key: key, origin: cp.Annotations[v1alpha1.AnnotationOrigin]}
	if o, ok := cp.Annotations[v1alpha1.AnnotationRuleOrigins]; ok {
		p.ruleOrigins = strings.Split(o, ",")
	}
	if err := p.validate(in); err != nil {
		return nil, err
	}
	b, err := json.Marshal(&p.p)
	if err != nil {
		return nil, fmt.Errorf("encoding policy %s: %w", p.key, err)
	}
	p.raw = b
	sum := sha256.Sum256(b)
	p.rawHash = sum[:]
	if version != "" {
		kept := *p
		cache.putPolicy(key, version, &kept)
	}
	return p, nil
}

// rawSum is the SHA-256 of the policy's JSON encoding.
func (p *policy) rawSum() []byte {
	if p.rawHash == nil {
		sum := sha256.Sum256(p.raw)
		p.rawHash = sum[:]
	}
	return p.rawHash
}

// value is the policy as the Rego library sees it (decoded on demand: only
// policies missing from the cache need it).
func (p *policy) value() (any, error) {
	var v any
	if err := util.UnmarshalJSON(p.raw, &v); err != nil {
		return nil, fmt.Errorf("encoding policy %s: %w", p.key, err)
	}
	return v, nil
}

func actionOf(a v1alpha1.RuleAction) table.Action {
	if a == v1alpha1.ActionDeny {
		return table.ActionDeny
	}
	return table.ActionAllow
}

func moduleRuleOrigin(m *ast.Module, name string) string {
	for _, r := range m.Rules {
		if r.Head.Name.String() == name || r.Head.Ref().String() == name {
			return fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
	}
	return fmt.Sprintf("%s:%d", m.Package.Location.File, m.Package.Location.Row)
}

const selectorHint = "see metav1.LabelSelector: operators In, NotIn (with values), Exists, DoesNotExist (without)"

// validate checks the policy with api/v1alpha1/validation, the one
// definition the webhook and the loader use too, and prepares what the
// compiler needs from it: the mode, the pod selector and the Rego module.
func (p *policy) validate(in *Input) error {
	if errs, _ := validation.ValidatePolicy(&p.p); len(errs) > 0 {
		return p.fieldError(errs[0])
	}
	s := &p.p.Spec
	p.mode = table.ModeEnforce
	if s.Mode == v1alpha1.ModeAudit {
		p.mode = table.ModeAudit
	}
	sel, err := metav1.LabelSelectorAsSelector(&s.PodSelector)
	if err != nil {
		return p.errorf("", "podSelector", selectorHint, "%v", err)
	}
	p.selector = sel
	if s.Rego != nil {
		return p.loadModule(in)
	}
	return nil
}

var ruleField = regexp.MustCompile(`^spec\.rules\[(\d+)\]`)

// fieldError turns a validation error into an *Error at the line of the
// rule it is about (the policy's otherwise).
func (p *policy) fieldError(e *field.Error) *Error {
	origin := ""
	if m := ruleField.FindStringSubmatch(e.Field); m != nil {
		i, _ := strconv.Atoi(m[1])
		origin = p.ruleOrigin(i)
	}
	return p.errorf(origin, e.Field, "see docs/semantics.md", "%s", e.ErrorBody())
}

// loadModule parses the policy's Rego module and moves it under
// data.axon.user["namespace/name"], where the library looks for it.
func (p *policy) loadModule(in *Input) error {
	r := p.p.Spec.Rego
	var name, text string
	switch {
	case r.Inline != "":
		name, _ = splitOrigin(p.origin)
		if name == "" {
			name = p.key + ".rego"
		}
		text = r.Inline
	case r.File != "":
		name = r.File
		t, ok := in.Modules[r.File]
		if !ok {
			return p.errorf("", "rego.file: "+r.File, "put the module beside the policy", "module not found")
		}
		text = t
	case r.ConfigMapRef != nil:
		name = ConfigMapModuleKey(p.p.Namespace, r.ConfigMapRef.Name, r.ConfigMapRef.Key)
		t, ok := in.Modules[name]
		if !ok {
			return p.errorf("", "rego.configMapRef: "+name, "create the ConfigMap key", "module not found")
		}
		text = t
	default:
		return p.errorf("", "rego", "set inline, file or configMapRef", "empty rego source")
	}
	p.text = name + "\x00" + text
	m, err := ast.ParseModuleWithOpts(name, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		at := name + ":1"
		if errs, ok := err.(ast.Errors); ok && len(errs) > 0 && errs[0].Location != nil {
			at = fmt.Sprintf("%s:%d", name, errs[0].Location.Row)
		}
		return p.errorf(at, "rego", "fix the module; `opa check` shows the same error", "parsing module: %v", err)
	}
	if err := p.checkDataRefs(m); err != nil {
		return err
	}
	m.Package.Path = ast.Ref{ast.DefaultRootDocument, ast.StringTerm("axon"), ast.StringTerm("user"), ast.StringTerm(p.key)}
	// `default allow := false` (or deny) changes nothing for the table (an
	// undefined allow does not match either) but defeats inlining: drop it.
	kept := m.Rules[:0]
	for _, r := range m.Rules {
		name := r.Head.Ref().String()
		if head := r.Head.Ref()[0].String(); !r.Default && (head == "allow" || head == "deny") {
			// The library takes a defined allow/deny as a match: only a
			// boolean rule that is true when it holds means that.
			single := r.Head.RuleKind() == ast.SingleValue && len(r.Head.Ref()) == 1
			if !single || (r.Head.Value != nil && !r.Head.Value.Equal(ast.BooleanTerm(true))) {
				return p.errorf(fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row), strings.SplitN(r.String(), "\n", 2)[0],
					"write `"+head+" if { ... }`", "%s must be a boolean rule that is true when it matches (not a set, an object or another value)", head)
			}
		}
		if r.Default && (name == "allow" || name == "deny") {
			if r.Head.Value == nil || !r.Head.Value.Equal(ast.BooleanTerm(false)) {
				return p.errorf(fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row), r.String(), "write `"+name+" if true` for an unconditional rule", "only `default %s := false` is supported", name)
			}
			continue
		}
		kept = append(kept, r)
	}
	m.Rules = kept
	p.module = m
	return nil
}

// checkDataRefs refuses references of module m into the library's state
// under data.axon other than data.axon.namespaces (the namespaces' labels).
// Each policy is partially evaluated with only itself in data.axon.policies,
// so a module reading the other policies, their modules or the library's
// decisions (data.axon.authz) would be compiled to something other than
// what OPA evaluates with every policy loaded.
func (p *policy) checkDataRefs(m *ast.Module) error {
	var bad ast.Ref
	visit := func(r ast.Ref) bool {
		if bad != nil || len(r) == 0 || !r[0].Equal(ast.DefaultRootDocument) {
			return bad != nil
		}
		if len(r) < 2 {
			bad = r
			return true
		}
		top, ok := r[1].Value.(ast.String)
		if !ok {
			bad = r // data[x]: may be data.axon
			return true
		}
		if top != "axon" {
			return false // the user's own data documents
		}
		if len(r) < 3 || !r[2].Equal(ast.StringTerm("namespaces")) {
			bad = r
		}
		return bad != nil
	}
	for _, imp := range m.Imports {
		if r, ok := imp.Path.Value.(ast.Ref); ok {
			visit(r)
		}
	}
	for _, r := range m.Rules { // not the package clause: it is replaced
		ast.WalkRefs(r, visit)
	}
	if bad == nil {
		return nil
	}
	at := ""
	if loc := bad[0].Location; loc != nil {
		at = fmt.Sprintf("%s:%d", loc.File, loc.Row)
	}
	return p.errorf(at, bad.String(), "a module may read its input, data.axon.namespaces and data documents outside data.axon",
		"reference to the Axon library's state (each policy is compiled on its own: other policies and the library's decisions are not its data)")
}

// libraryCompiler compiles the library with the policies' Rego modules and
// the data modules of env (nil: none).
func libraryCompiler(ps []*policy, env ...*dataEnv) (*ast.Compiler, error) {
	mods := map[string]*ast.Module{}
	for name, text := range regolib.Modules() {
		m, err := ast.ParseModuleWithOpts(name, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("parsing library %s: %w", name, err)
		}
		mods[name] = m
	}
	for _, p := range ps {
		if p.module != nil {
			// The compiler rewrites the modules it is given: compile a copy.
			mods["user:"+p.key] = p.module.Copy()
		}
	}
	for _, e := range env {
		e.addModules(mods)
	}
	c := ast.NewCompiler().WithEnablePrintStatements(false)
	c.Compile(mods)
	if c.Failed() {
		e := c.Errors[0]
		ce := &Error{Construct: "rego", Msg: e.Message, Hint: "`opa check` the module", Kind: ErrInvalid}
		if e.Location != nil {
			ce.File, ce.Line = e.Location.File, e.Location.Row
		}
		return nil, ce
	}
	return c, nil
}
