package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/httppath"
	"github.com/axon-dev/axon/policy/table"
)

// Endpoints of the path-form fixture, all on the orders pod.
var (
	formsEP   = netip.AddrPortFrom(orders4.Addr(), 7070) // Deny rules written in several spellings, default Allow
	starGlob  = netip.AddrPortFrom(orders4.Addr(), 7071) // Deny glob: /**
	starPfx   = netip.AddrPortFrom(orders4.Addr(), 7072) // Deny prefix: /
	starAllow = netip.AddrPortFrom(orders4.Addr(), 7073) // Allow glob: /*, default Deny
)

const fixtureForms = `
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: forms, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 7070}]
  defaultAction: Allow
  rules:
  - action: Deny
    http:
    - paths: [{exact: /api/v1/orders/@me}, {prefix: "/admin%3aexport"}, {exact: /files/a+b}, {exact: /q%3f}, {glob: "/g/?"}, {exact: "/e/%22x"}]
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: star-glob, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 7071}]
  defaultAction: Allow
  rules:
  - action: Deny
    http: [{paths: [{glob: "/**"}]}]
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: star-prefix, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 7072}]
  defaultAction: Allow
  rules:
  - action: Deny
    http: [{paths: [{prefix: /}]}]
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: star-allow, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 7073}]
  defaultAction: Deny
  rules:
  - action: Allow
    http: [{methods: [OPTIONS], paths: [{glob: "/*"}]}]
`

// TestPathForms: requests are matched in the one canonical form of
// docs/semantics.md whatever their spelling (issue 9 class 13), "#" is
// non-canonical (class 12), the asterisk form is matched alike by prefix: /
// and by globs matching /* (class 15), and invalid or overlong methods are
// not_http in the kernel and in the reference evaluator alike (class 15).
func TestPathForms(t *testing.T) {
	d := sharedTest(t)
	tab := compileFS(t, map[string]string{
		"namespaces.yaml": fixtureNamespaces, "pods.yaml": fixturePods, "forms.yaml": fixtureForms,
	})
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("X", table.MaxMethod)
	for _, c := range []struct {
		dst    netip.AddrPort
		method string
		target string
		want   table.DecisionAction
		reason string
	}{
		{formsEP, "GET", "/api/v1/orders/@me", table.DecisionDeny, ""},
		{formsEP, "GET", "/api/v1/orders/%40me", table.DecisionDeny, ""},
		{formsEP, "GET", "/api/v1/orders/%40ME", table.DecisionAllow, ""},
		{formsEP, "GET", "/admin:export", table.DecisionDeny, ""},
		{formsEP, "GET", "/admin%3Aexport/x", table.DecisionDeny, ""},
		{formsEP, "GET", "/admin%3aexport", table.DecisionDeny, ""},
		{formsEP, "GET", "/admin%3aexportx", table.DecisionAllow, ""},
		{formsEP, "GET", "/files/a+b", table.DecisionDeny, ""},
		{formsEP, "GET", "/files/a%2Bb", table.DecisionDeny, ""},
		{formsEP, "GET", "/files/a%2bb?x=1", table.DecisionDeny, ""},
		{formsEP, "GET", "/q%3F", table.DecisionDeny, ""},
		{formsEP, "GET", "/q%3f", table.DecisionDeny, ""},
		{formsEP, "GET", "/q?", table.DecisionAllow, ""},
		{formsEP, "GET", "/g/a", table.DecisionDeny, ""},
		{formsEP, "GET", "/g/%40", table.DecisionDeny, ""},  // decoded: one byte
		{formsEP, "GET", "/g/%20", table.DecisionAllow, ""}, // kept: three bytes, ? matches one
		{formsEP, "GET", "/g/ab", table.DecisionAllow, ""},
		{formsEP, "GET", "/e/\"x", table.DecisionDeny, ""},
		{formsEP, "GET", "/e/%22x", table.DecisionDeny, ""},
		{formsEP, "GET", "http://h/api/v1/orders/%40me", table.DecisionDeny, ""},
		{formsEP, "GET", "/api/v1/ok#/../../admin/secret.txt", table.DecisionDeny, table.ReasonNonCanonicalPath},
		{formsEP, "GET", "/api/v1/ok?q#/x", table.DecisionDeny, table.ReasonNonCanonicalPath},
		{formsEP, "GET", "#", table.DecisionDeny, table.ReasonNonCanonicalPath},
		{formsEP, "GET", "http://h#/x", table.DecisionDeny, table.ReasonNonCanonicalPath},
		{formsEP, "G@T", "/a", table.DecisionDeny, table.ReasonNotHTTP},
		{formsEP, long, "/a", table.DecisionAllow, ""},
		{formsEP, long + "X", "/a", table.DecisionDeny, table.ReasonNotHTTP},
		{starGlob, "OPTIONS", "*", table.DecisionDeny, ""},
		{starPfx, "OPTIONS", "*", table.DecisionDeny, ""},
		{starGlob, "GET", "/x", table.DecisionDeny, ""},
		{starAllow, "OPTIONS", "*", table.DecisionAllow, ""},
		{starAllow, "OPTIONS", "/x", table.DecisionAllow, ""},
		{starAllow, "OPTIONS", "/x/y", table.DecisionDeny, ""},
	} {
		req := table.Request{Src: web4, Dst: c.dst, Method: c.method, Target: c.target}
		ref := tab.Decide(req)
		if ref.Action != c.want || ref.Reason != c.reason {
			t.Errorf("%s %s -> %v: reference %+v, want %v %q", c.method, c.target, c.dst, ref, c.want, c.reason)
		}
		checkKernelAgrees(t, d, req, ref)
	}
}

// checkKernelAgrees sends req on a fresh connection and checks the outcome
// and the counted (rule, verdict) against the reference decision.
func checkKernelAgrees(t *testing.T, d *Datapath, req table.Request, ref table.Decision) {
	t.Helper()
	before := d.ruleCount(t, ref.Rule, Verdict(ref.Action))
	f := newFlow(t, d.Ingress(), req.Src, req.Dst)
	got := f.send(req.Method + " " + req.Target + " HTTP/1.1\r\nHost: h\r\n\r\n")
	want := passed
	if ref.Action == table.DecisionDeny {
		want = reset
	}
	if got != want {
		t.Errorf("%s %q -> %v: kernel %v, reference %+v", req.Method, req.Target, req.Dst, got, ref)
		return
	}
	if after := d.ruleCount(t, ref.Rule, Verdict(ref.Action)); after != before+1 {
		t.Errorf("%s %q -> %v: counter (rule %d, %v) %d -> %d, reference %+v", req.Method, req.Target, req.Dst, ref.Rule, ref.Action, before, after, ref)
	}
}

// TestEveryEscape: every escape %00-%FF, in every spelling of its hex
// digits, is decoded, kept (upper-cased) or refused by the kernel exactly as
// httppath.Canonical and httppath.Check say: one Allow rule per escape,
// written in upper case, default Deny.
func TestEveryEscape(t *testing.T) {
	d := sharedTest(t)
	var b strings.Builder
	b.WriteString("apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: escapes, namespace: shop}\n" +
		"spec:\n  podSelector: {matchLabels: {app: orders}}\n  ports: [{port: 7080}]\n  defaultAction: Deny\n  rules:\n")
	ruleOf := map[string]int{}
	for c := 0; c < 256; c++ {
		p := fmt.Sprintf("/e/%%%02X", c)
		if httppath.Check(p) != nil {
			continue
		}
		ruleOf[httppath.Canonical(p)] = len(ruleOf)
		fmt.Fprintf(&b, "  - action: Allow\n    http: [{paths: [{exact: %q}]}]\n", p)
	}
	tab := compileFS(t, map[string]string{"namespaces.yaml": fixtureNamespaces, "pods.yaml": fixturePods, "escapes.yaml": b.String()})
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(orders4.Addr(), 7080)
	decoded, kept, refused := 0, 0, 0
	for c := 0; c < 256; c++ {
		hi, lo := fmt.Sprintf("%X", c>>4), fmt.Sprintf("%X", c&15)
		for _, h := range []string{hi, strings.ToLower(hi)} {
			for _, l := range []string{lo, strings.ToLower(lo)} {
				target := "/e/%" + h + l
				ref := tab.Decide(table.Request{Src: web4, Dst: dst, Method: "GET", Target: target})
				canon := httppath.Canonical(target)
				switch i, ok := ruleOf[canon]; {
				case httppath.Check(target) != nil:
					refused++
					if ref.Reason != table.ReasonNonCanonicalPath {
						t.Errorf("%s: reference %+v, want non_canonical_path", target, ref)
					}
				case !ok:
					t.Errorf("%s: canonical form %q has no rule", target, canon)
				default:
					if len(canon) == 4 {
						decoded++
					} else {
						kept++
					}
					if r := tab.Rules[ref.Rule-1]; ref.Action != table.DecisionAllow || r.Policy != "escapes" || r.Index != i {
						t.Errorf("%s: reference %+v, want allow by rule %d", target, ref, i)
					}
				}
				checkKernelAgrees(t, d, table.Request{Src: web4, Dst: dst, Method: "GET", Target: target}, ref)
			}
		}
	}
	t.Logf("escape spellings: %d decoded, %d kept, %d refused", decoded, kept, refused)
	if decoded < len(httppath.Decoded) || kept == 0 || refused == 0 {
		t.Errorf("escape spellings: %d decoded, %d kept, %d refused: the test does not cover every kind", decoded, kept, refused)
	}
}
