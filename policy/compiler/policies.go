package compiler

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/api/v1alpha1/validation"
	"github.com/axon-dev/axon/policy/httppath"
	regolib "github.com/axon-dev/axon/policy/rego"
)

// policy is a defaulted, validated policy with its rule IDs.
type policy struct {
	p        v1alpha1.L7NetworkPolicy
	key      string // namespace/name
	mode     Mode
	selector labels.Selector
	origin   string
	raw      []byte // json encoded
	text     string // the Rego module's text
	defRule  RuleID
	rules    []RuleID // by index; Rego policies: [deny, allow]
	module   *ast.Module
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
	parts := strings.Split(p.p.Annotations[v1alpha1.AnnotationRuleOrigins], ",")
	if i >= 0 && i < len(parts) && parts[i] != "" {
		return parts[i]
	}
	return p.origin
}

// preparePolicies defaults, validates and sorts the policies, assigns rule
// IDs and parses the Rego modules they reference.
func preparePolicies(in *Input) ([]*policy, []Rule, error) {
	var ps []*policy
	seen := map[string]bool{}
	for i := range in.Policies {
		src := in.Policies[i].DeepCopy()
		v1alpha1.Default(src)
		p := &policy{p: *src, key: src.Namespace + "/" + src.Name, origin: src.Annotations[v1alpha1.AnnotationOrigin]}
		if seen[p.key] {
			return nil, nil, p.errorf("", p.key, "", "duplicate policy")
		}
		seen[p.key] = true
		if err := p.validate(in); err != nil {
			return nil, nil, err
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].key < ps[j].key })
	var rules []Rule
	add := func(p *policy, index int, a Action, origin string) RuleID {
		id := RuleID(len(rules) + 1)
		rules = append(rules, Rule{ID: id, Namespace: p.p.Namespace, Policy: p.p.Name, Index: index, Action: a, Mode: p.mode, Origin: origin})
		return id
	}
	for _, p := range ps {
		p.defRule = add(p, -1, actionOf(p.p.Spec.DefaultAction), p.origin)
		if p.module != nil {
			p.rules = []RuleID{add(p, 0, ActionDeny, moduleRuleOrigin(p.module, "deny")), add(p, 1, ActionAllow, moduleRuleOrigin(p.module, "allow"))}
			continue
		}
		for i, r := range p.p.Spec.Rules {
			p.rules = append(p.rules, add(p, i, actionOf(r.Action), p.ruleOrigin(i)))
		}
	}
	for _, p := range ps {
		b, err := json.Marshal(&p.p)
		if err != nil {
			return nil, nil, fmt.Errorf("encoding policy %s: %w", p.key, err)
		}
		p.raw = b
	}
	return ps, rules, nil
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

func actionOf(a v1alpha1.RuleAction) Action {
	if a == v1alpha1.ActionDeny {
		return ActionDeny
	}
	return ActionAllow
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

func (p *policy) validate(in *Input) error {
	s := &p.p.Spec
	switch s.Mode {
	case v1alpha1.ModeEnforce:
		p.mode = ModeEnforce
	case v1alpha1.ModeAudit:
		p.mode = ModeAudit
	default:
		return p.errorf("", "mode: "+string(s.Mode), "use Enforce or Audit", "unknown mode")
	}
	if s.DefaultAction != v1alpha1.ActionAllow && s.DefaultAction != v1alpha1.ActionDeny {
		return p.errorf("", "defaultAction: "+string(s.DefaultAction), "use Deny or Allow", "unknown action")
	}
	sel, err := metav1.LabelSelectorAsSelector(&s.PodSelector)
	if err != nil {
		return p.errorf("", "podSelector", selectorHint, "%v", err)
	}
	p.selector = sel
	for _, port := range s.Ports {
		if port.Port < 1 || port.Port > 65535 {
			return p.errorf("", fmt.Sprintf("port: %d", port.Port), "ports are 1-65535", "bad port")
		}
	}
	if s.Rego != nil {
		if len(s.Rules) > 0 {
			return p.errorf("", "rego", "write the rules in the module, or drop spec.rego", "rules and rego are mutually exclusive")
		}
		return p.loadModule(in)
	}
	for i, r := range s.Rules {
		o := p.ruleOrigin(i)
		if r.Action != v1alpha1.ActionAllow && r.Action != v1alpha1.ActionDeny {
			return p.errorf(o, "action: "+string(r.Action), "use Allow or Deny", "unknown action")
		}
		for _, peer := range r.From {
			if err := p.validatePeer(o, peer); err != nil {
				return err
			}
		}
		for _, h := range r.HTTP {
			for _, m := range h.Methods {
				if !httppath.IsToken(m) {
					return p.errorf(o, "method: "+m, "methods are HTTP tokens such as GET", "not a method token")
				}
				if len(m) > MaxMethodLen {
					return p.errorf(o, "method: "+m, fmt.Sprintf("the datapath matches methods of up to %d bytes", MaxMethodLen), "method too long")
				}
			}
			for _, pm := range h.Paths {
				if err := p.validatePath(o, pm); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (p *policy) validatePeer(o string, peer v1alpha1.Peer) error {
	if peer.IPBlock != nil {
		if peer.PodSelector != nil || peer.NamespaceSelector != nil {
			return p.errorf(o, "ipBlock", "put the ipBlock in its own from item", "ipBlock cannot be combined with selectors")
		}
		for _, c := range append([]string{peer.IPBlock.CIDR}, peer.IPBlock.Except...) {
			if pfx, err := netip.ParsePrefix(c); err != nil || pfx.Addr().Is4In6() {
				return p.errorf(o, "cidr: "+c, "write a CIDR such as 10.0.0.0/8 (IPv4-mapped IPv6 CIDRs are not accepted)", "bad CIDR")
			}
		}
		return nil
	}
	if peer.PodSelector == nil && peer.NamespaceSelector == nil {
		return p.errorf(o, "from item", "give podSelector, namespaceSelector or ipBlock", "empty source")
	}
	for _, sel := range []*metav1.LabelSelector{peer.PodSelector, peer.NamespaceSelector} {
		if sel == nil {
			continue
		}
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			return p.errorf(o, "selector", selectorHint, "%v", err)
		}
	}
	return nil
}

func (p *policy) validatePath(o string, pm v1alpha1.PathMatch) error {
	n := 0
	var pat string
	for _, s := range []string{pm.Exact, pm.Prefix, pm.Glob} {
		if s != "" {
			n++
			pat = s
		}
	}
	if n != 1 {
		return p.errorf(o, "paths item", "give exactly one of exact, prefix, glob", "bad path match")
	}
	if len(pat) > MaxPathKey-1 {
		return p.errorf(o, pat, "shorten the pattern or use a prefix", "pattern longer than %d bytes", MaxPathKey-1)
	}
	if pm.Glob != "" {
		if why := validGlob(pm.Glob); why != "" {
			return p.errorf(o, "glob: "+pm.Glob, "globs support * ** ? only", "%s", why)
		}
		return nil
	}
	// "*" is the asterisk-form target (OPTIONS *): an exact match only.
	if pat == "*" && pm.Exact != "" {
		return nil
	}
	if err := validation.CanonicalPattern(pat, ""); err != nil {
		return p.errorf(o, pat, "patterns start with / and contain no //, /./, /../, \\, ?, # or escapes of unreserved characters", "%v", err)
	}
	return nil
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
