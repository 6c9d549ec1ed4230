package validation

import (
	"fmt"
	"net/netip"
	"path"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/httppath"
)

// MaxMethodLen bounds method tokens, as the CRD schema does: the datapath
// matches methods of up to this many bytes.
const MaxMethodLen = httppath.MaxMethodLen

// ValidatePolicy checks p. Errors reject the policy; warnings are worth
// showing to its author. Unset mode, defaultAction and rule actions are
// accepted (they take their defaults).
func ValidatePolicy(p *v1alpha1.L7NetworkPolicy) (field.ErrorList, []string) {
	v := &validator{}
	v.meta(&p.ObjectMeta, field.NewPath("metadata"))
	v.spec(&p.Spec, field.NewPath("spec"))
	return v.errs, v.warns
}

type validator struct {
	errs  field.ErrorList
	warns []string
}

func (v *validator) warn(p *field.Path, format string, args ...any) {
	v.warns = append(v.warns, p.String()+": "+fmt.Sprintf(format, args...))
}

// meta checks the names the API server would check, for policies read from
// files: they end up in metric labels and "namespace/name" keys.
func (v *validator) meta(m *metav1.ObjectMeta, p *field.Path) {
	if m.Name == "" {
		v.errs = append(v.errs, field.Required(p.Child("name"), ""))
	}
	for _, msg := range utilvalidation.IsDNS1123Subdomain(m.Name) {
		if m.Name != "" {
			v.errs = append(v.errs, field.Invalid(p.Child("name"), m.Name, msg))
		}
	}
	if m.Namespace != "" {
		for _, msg := range utilvalidation.IsDNS1123Label(m.Namespace) {
			v.errs = append(v.errs, field.Invalid(p.Child("namespace"), m.Namespace, msg))
		}
	}
}

func (v *validator) spec(s *v1alpha1.L7NetworkPolicySpec, p *field.Path) {
	v.errs = append(v.errs, metavalidation.ValidateLabelSelector(&s.PodSelector,
		metavalidation.LabelSelectorValidationOptions{}, p.Child("podSelector"))...)

	if len(s.Ports) == 0 {
		v.errs = append(v.errs, field.Required(p.Child("ports"), "at least one TCP port to police"))
	}
	seen := map[int32]bool{}
	for i, port := range s.Ports {
		pp := p.Child("ports").Index(i).Child("port")
		switch {
		case port.Port < 1 || port.Port > 65535:
			v.errs = append(v.errs, field.Invalid(pp, port.Port, "must be between 1 and 65535"))
		case seen[port.Port]:
			v.errs = append(v.errs, field.Duplicate(pp, port.Port))
		}
		seen[port.Port] = true
	}

	switch s.Mode {
	case "", v1alpha1.ModeEnforce, v1alpha1.ModeAudit:
	default:
		v.errs = append(v.errs, field.NotSupported(p.Child("mode"), s.Mode,
			[]v1alpha1.PolicyMode{v1alpha1.ModeEnforce, v1alpha1.ModeAudit}))
	}
	v.action(s.DefaultAction, p.Child("defaultAction"))

	if s.Rego != nil {
		if len(s.Rules) > 0 {
			v.errs = append(v.errs, field.Forbidden(p.Child("rules"), "rules and rego are mutually exclusive"))
		}
		v.rego(s.Rego, p.Child("rego"))
		return
	}
	if len(s.Rules) == 0 {
		v.warn(p.Child("rules"), "no rules: every request to the selected ports gets defaultAction %s", orDefault(string(s.DefaultAction), "Deny"))
	}
	// No warning for Allow rules in a defaultAction: Allow policy: they
	// matter when another policy protecting the endpoint defaults to Deny.
	for i := range s.Rules {
		v.rule(&s.Rules[i], p.Child("rules").Index(i))
	}
	v.risks(s, p)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (v *validator) action(a v1alpha1.RuleAction, p *field.Path) {
	switch a {
	case "", v1alpha1.ActionAllow, v1alpha1.ActionDeny:
	default:
		v.errs = append(v.errs, field.NotSupported(p, a,
			[]v1alpha1.RuleAction{v1alpha1.ActionAllow, v1alpha1.ActionDeny}))
	}
}

func (v *validator) rule(r *v1alpha1.Rule, p *field.Path) {
	v.action(r.Action, p.Child("action"))
	if r.From != nil && len(r.From) == 0 {
		v.warn(p.Child("from"), "empty list matches no source: the rule never applies (omit from to match every source)")
	}
	if r.HTTP != nil && len(r.HTTP) == 0 {
		v.warn(p.Child("http"), "empty list matches no request: the rule never applies (omit http to match every request)")
	}
	for i := range r.From {
		v.peer(&r.From[i], p.Child("from").Index(i))
	}
	for i := range r.HTTP {
		v.http(&r.HTTP[i], p.Child("http").Index(i))
	}
}

func (v *validator) peer(peer *v1alpha1.Peer, p *field.Path) {
	opts := metavalidation.LabelSelectorValidationOptions{}
	hasSel := peer.PodSelector != nil || peer.NamespaceSelector != nil
	switch {
	case peer.IPBlock != nil && hasSel:
		v.errs = append(v.errs, field.Forbidden(p.Child("ipBlock"), "ipBlock cannot be combined with podSelector or namespaceSelector"))
	case peer.IPBlock == nil && !hasSel:
		v.errs = append(v.errs, field.Required(p, "one of podSelector, namespaceSelector or ipBlock"))
	}
	if peer.PodSelector != nil {
		v.errs = append(v.errs, metavalidation.ValidateLabelSelector(peer.PodSelector, opts, p.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		v.errs = append(v.errs, metavalidation.ValidateLabelSelector(peer.NamespaceSelector, opts, p.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		v.ipBlock(peer.IPBlock, p.Child("ipBlock"))
	}
}

// prefix parses a CIDR and insists on a masked address: 10.0.0.1/8 is more
// likely a typo than a wish for 10.0.0.0/8.
func prefix(s string, p *field.Path) (netip.Prefix, *field.Error) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return pfx, field.Invalid(p, s, "not a CIDR (want e.g. 10.0.0.0/8 or 2001:db8::/32)")
	}
	if pfx.Addr().Zone() != "" {
		return pfx, field.Invalid(p, s, "CIDR must not have a zone")
	}
	if pfx.Addr().Is4In6() {
		return pfx, field.Invalid(p, s, "IPv4-mapped IPv6 CIDR; write the IPv4 CIDR instead")
	}
	if m := pfx.Masked(); m != pfx {
		return pfx, field.Invalid(p, s, fmt.Sprintf("host bits set; did you mean %s?", m))
	}
	return pfx, nil
}

func (v *validator) ipBlock(b *v1alpha1.IPBlock, p *field.Path) {
	cidr, ferr := prefix(b.CIDR, p.Child("cidr"))
	if ferr != nil {
		v.errs = append(v.errs, ferr)
	}
	for i, e := range b.Except {
		ep := p.Child("except").Index(i)
		ex, eerr := prefix(e, ep)
		if eerr != nil {
			v.errs = append(v.errs, eerr)
			continue
		}
		if ferr != nil {
			continue
		}
		if ex.Addr().Is4() != cidr.Addr().Is4() || ex.Bits() <= cidr.Bits() || !cidr.Contains(ex.Addr()) {
			v.errs = append(v.errs, field.Invalid(ep, e, fmt.Sprintf("must be a strict sub-range of cidr %s", b.CIDR)))
		}
	}
}

func (v *validator) http(h *v1alpha1.HTTPRule, p *field.Path) {
	if h.Methods != nil && len(h.Methods) == 0 {
		v.errs = append(v.errs, field.Required(p.Child("methods"), "omit methods to match any method; an empty list is not allowed"))
	}
	seen := map[string]bool{}
	for i, m := range h.Methods {
		mp := p.Child("methods").Index(i)
		switch {
		case !IsToken(m):
			v.errs = append(v.errs, field.Invalid(mp, m, "not an HTTP method token"))
		case len(m) > MaxMethodLen:
			v.errs = append(v.errs, field.TooLong(mp, m, MaxMethodLen))
		case seen[m]:
			v.errs = append(v.errs, field.Duplicate(mp, m))
		case strings.ToUpper(m) != m:
			v.warn(mp, "methods are case-sensitive: %q does not match %q", m, strings.ToUpper(m))
		}
		seen[m] = true
	}
	if h.Paths != nil && len(h.Paths) == 0 {
		v.errs = append(v.errs, field.Required(p.Child("paths"), "omit paths to match any path; an empty list is not allowed"))
	}
	for i := range h.Paths {
		v.pathMatch(&h.Paths[i], p.Child("paths").Index(i))
	}
}

func (v *validator) pathMatch(m *v1alpha1.PathMatch, p *field.Path) {
	n := 0
	for _, s := range []string{m.Exact, m.Prefix, m.Glob} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		v.errs = append(v.errs, field.Invalid(p, n, "exactly one of exact, prefix or glob must be set"))
		return
	}
	var fp *field.Path
	var pat, wild string
	switch {
	case m.Exact != "":
		fp, pat = p.Child("exact"), m.Exact
		if pat == "*" { // the asterisk-form target of OPTIONS *
			return
		}
	case m.Prefix != "":
		fp, pat = p.Child("prefix"), m.Prefix
	default:
		fp, pat, wild = p.Child("glob"), m.Glob, "*?"
	}
	if wild != "" {
		if err := GlobPattern(pat); err != nil {
			v.errs = append(v.errs, field.Invalid(fp, pat, err.Error()))
			return
		}
		if canon := httppath.Canonical(pat); canon != pat {
			v.warn(fp, "compared in canonical form %s (docs/semantics.md: escapes servers decode are decoded, hex digits upper-case)", canon)
		}
		if !strings.ContainsAny(pat, "*?") {
			v.warn(fp, "glob without * or ?: use exact: %s", pat)
		}
		return
	}
	if len(pat) > MaxPatternLen {
		v.errs = append(v.errs, field.TooLong(fp, pat, MaxPatternLen))
		return
	}
	if err := CanonicalPattern(pat, ""); err != nil {
		v.errs = append(v.errs, field.Invalid(fp, pat, err.Error()))
		return
	}
	if canon := httppath.Canonical(pat); canon != pat {
		v.warn(fp, "compared in canonical form %s (docs/semantics.md: escapes servers decode are decoded, hex digits upper-case)", canon)
	}
	if strings.ContainsAny(pat, "*") && m.Prefix != "" {
		v.warn(fp, "* in a prefix is matched literally; use glob for wildcards")
	} else if strings.Contains(pat, "*") {
		v.warn(fp, "* in an exact path is matched literally; use glob for wildcards")
	}
}

func (v *validator) rego(r *v1alpha1.RegoSource, p *field.Path) {
	n := 0
	if r.Inline != "" {
		n++
	}
	if r.File != "" {
		n++
	}
	if r.ConfigMapRef != nil {
		n++
	}
	if n != 1 {
		v.errs = append(v.errs, field.Invalid(p, n, "exactly one of inline, file or configMapRef must be set"))
		return
	}
	switch {
	case r.File != "":
		fp := p.Child("file")
		switch {
		case path.IsAbs(r.File) || strings.Contains(r.File, `\`):
			v.errs = append(v.errs, field.Invalid(fp, r.File, "must be a relative path with / separators"))
		case path.Clean(r.File) != r.File || r.File == ".." || strings.HasPrefix(r.File, "../"):
			v.errs = append(v.errs, field.Invalid(fp, r.File, "must be a clean path inside the policy directory"))
		case !strings.HasSuffix(r.File, ".rego"):
			v.errs = append(v.errs, field.Invalid(fp, r.File, "must name a .rego file"))
		case strings.HasSuffix(r.File, "_test.rego"):
			v.warn(fp, "%s is a test file by name; attach the module it tests", r.File)
		}
	case r.ConfigMapRef != nil:
		cp := p.Child("configMapRef")
		if r.ConfigMapRef.Name == "" {
			v.errs = append(v.errs, field.Required(cp.Child("name"), ""))
		}
		if r.ConfigMapRef.Key == "" {
			v.errs = append(v.errs, field.Required(cp.Child("key"), ""))
		}
	}
}

// globSyntax counts the bytes of s that are glob syntax.
