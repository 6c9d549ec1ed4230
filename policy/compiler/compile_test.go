package compiler

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/api/v1alpha1/validation"
	"github.com/axon-dev/axon/policy/table"
)

func pod(ns, name, ip string, l map[string]string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l}}
	p.Status.PodIP = ip
	return p
}

const tenantsModule = `package tenants

import rego.v1

default allow := false

deny if {
	input.method == "DELETE"
	not input.source.labels.role == "admin"
}

allow if {
	startswith(input.path, "/tenants/")
	input.source.namespace == "shop"
}

allow if glob.match("/public/**", ["/"], input.path)

allow if {
	input.method in {"GET", "HEAD"}
	net.cidr_contains("203.0.113.0/24", input.source.ip)
	not input.source.namespace
}
`

func regoInput() *Input {
	return &Input{
		Pods: []corev1.Pod{
			pod("shop", "orders", "10.1.0.1", map[string]string{"app": "orders"}),
			pod("shop", "web", "10.1.0.2", map[string]string{"app": "web"}),
			pod("shop", "admin", "10.1.0.3", map[string]string{"app": "web", "role": "admin"}),
			pod("ops", "probe", "10.1.0.4", map[string]string{"app": "probe"}),
		},
		Policies: []v1alpha1.L7NetworkPolicy{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "tenants", Annotations: map[string]string{v1alpha1.AnnotationOrigin: "tenants.yaml:1"}},
			Spec: v1alpha1.L7NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
				Ports:       []v1alpha1.PortSpec{{Port: 8080}},
				Rego:        &v1alpha1.RegoSource{File: "tenants.rego"},
			},
		}},
		Modules: map[string]string{"tenants.rego": tenantsModule},
	}
}

func req(src, method, target string) table.Request {
	return table.Request{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddrPort("10.1.0.1:8080"), Method: method, Target: target}
}

// TestRegoPolicy compiles a policy written as a Rego module and checks the
// decisions its text implies: deny rules beat allow rules, the default is
// Deny, and Rego rules are reported as rule 0 (deny) or 1 (allow).
func TestRegoPolicy(t *testing.T) {
	ctx := context.Background()
	in := regoInput()
	tab, err := Compile(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	id := func(index int) table.RuleID {
		for _, r := range tab.Rules {
			if r.Policy == "tenants" && r.Index == index {
				return r.ID
			}
		}
		t.Fatalf("no rule %d", index)
		return 0
	}
	if o := tab.Rules[id(0)-1].Origin; o != "tenants.rego:7" {
		t.Errorf("deny origin %q, want tenants.rego:7", o)
	}
	for _, c := range []struct {
		r    table.Request
		want table.Decision
	}{
		{req("10.1.0.2", "GET", "/tenants/a"), table.Decision{Action: table.DecisionAllow, Rule: id(1)}},
		{req("10.1.0.2", "DELETE", "/tenants/a"), table.Decision{Action: table.DecisionDeny, Rule: id(0)}},
		{req("10.1.0.3", "DELETE", "/tenants/a"), table.Decision{Action: table.DecisionAllow, Rule: id(1)}},
		{req("10.1.0.4", "GET", "/tenants/a"), table.Decision{Action: table.DecisionDeny, Rule: id(-1)}},
		{req("10.1.0.4", "GET", "/public/a/b"), table.Decision{Action: table.DecisionAllow, Rule: id(1)}},
		{req("10.1.0.4", "GET", "/public"), table.Decision{Action: table.DecisionDeny, Rule: id(-1)}},
		{req("203.0.113.9", "HEAD", "/x"), table.Decision{Action: table.DecisionAllow, Rule: id(1)}},
		{req("203.0.113.9", "POST", "/x"), table.Decision{Action: table.DecisionDeny, Rule: id(-1)}},
		{req("203.0.113.9", "DELETE", "/public/x"), table.Decision{Action: table.DecisionDeny, Rule: id(0)}},
		{req("198.51.100.1", "GET", "/x"), table.Decision{Action: table.DecisionDeny, Rule: id(-1)}},
		{req("10.1.0.2", "GET", "/tenants/../admin"), table.Decision{Action: table.DecisionDeny, Reason: table.ReasonNonCanonicalPath}},
	} {
		if got := tab.Decide(c.r); got != c.want {
			t.Errorf("%s %s from %s: got %+v, want %+v", c.r.Method, c.r.Target, c.r.Src, got, c.want)
		}
	}
	// And the same as OPA on random requests.
	o, err := NewOracle(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	srcs := []string{"10.1.0.2", "10.1.0.3", "10.1.0.4", "203.0.113.9", "198.51.100.1"}
	paths := []string{"/tenants/a", "/tenants", "/public/", "/public/x/y", "/x", "/", "*"}
	for i := 0; i < 2000; i++ {
		r := req(srcs[rng.IntN(len(srcs))], []string{"GET", "HEAD", "DELETE", "POST", "BREW"}[rng.IntN(5)], paths[rng.IntN(len(paths))])
		want, err := o.Decide(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if got := tab.Decide(r); got != want {
			t.Fatalf("%+v: table %+v, OPA %+v", r, got, want)
		}
	}
}

// TestUnsupportedRegoNamesFileAndLine: Rego outside the fragment is a
// compile error at the module's file and line.
func TestUnsupportedRegoNamesFileAndLine(t *testing.T) {
	for _, c := range []struct {
		body string
		line int
	}{
		{"allow if {\n\tcount(input.path) > 5\n}\n", 6},
		{"allow if {\n\tinput.source.ip == \"10.0.0.1\"\n}\n", 6},
		{"allow if {\n\tinput.method == \"GET\"\n\tnot glob.match(\"/a/*\", [\"/\"], input.path)\n}\n", 7},
		{"allow if {\n\tglob.match(\"/a/*\", [\"/\", \".\"], input.path)\n}\n", 6},
		{"allow if {\n\tglob.match(\"/a/[ab]\", [\"/\"], input.path)\n}\n", 6},
		{"allow if {\n\tupper(input.method) == \"GET\"\n}\n", 6},
		{"allow if {\n\tglob.match(\"/a/*\", [\"/\"], input.path)\n\tglob.match(\"/a/*/b\", [\"/\"], input.path)\n}\n", 7},
		{"allow if {\n\tinput.source.labels.app != \"web\"\n}\n", 6},
		{"allow if {\n\tnet.cidr_contains(\"::ffff:10.0.0.0/104\", input.source.ip)\n}\n", 6},
	} {
		in := regoInput()
		in.Modules["tenants.rego"] = "package tenants\n\nimport rego.v1\n\n" + c.body
		_, err := Compile(context.Background(), in)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: got %v, want *Error", c.body, err)
			continue
		}
		if !errors.Is(err, ErrUnsupported) || ce.File != "tenants.rego" || ce.Line != c.line || ce.Construct == "" || ce.Hint == "" {
			t.Errorf("%q: got %#v (%v), want unsupported at tenants.rego:%d", c.body, ce, err, c.line)
		}
	}
}

// TestInvalidPolicyNamesOrigin: malformed rules are errors at the rule's
// file:line from the origin annotations.
func TestInvalidPolicyNamesOrigin(t *testing.T) {
	for _, c := range []struct {
		name string
		rule v1alpha1.Rule
	}{
		{"bad cidr", v1alpha1.Rule{From: []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "10.0.0.0/33"}}}}},
		{"ipv4-mapped cidr", v1alpha1.Rule{From: []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "::ffff:10.0.0.0/104"}}}}},
		{"non-canonical prefix", v1alpha1.Rule{HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Prefix: "/a/../b"}}}}}},
		{"glob brackets", v1alpha1.Rule{HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Glob: "/a/[bc]"}}}}}},
		{"two patterns", v1alpha1.Rule{HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Exact: "/a", Prefix: "/b"}}}}}},
		{"bad selector", v1alpha1.Rule{From: []v1alpha1.Peer{{PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}}}}},
	} {
		p := v1alpha1.L7NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p", Annotations: map[string]string{
				v1alpha1.AnnotationOrigin: "p.yaml:1", v1alpha1.AnnotationRuleOrigins: "p.yaml:9,p.yaml:14"}},
			Spec: v1alpha1.L7NetworkPolicySpec{Ports: []v1alpha1.PortSpec{{Port: 80}}, Rules: []v1alpha1.Rule{{}, c.rule}},
		}
		_, err := Compile(context.Background(), &Input{Policies: []v1alpha1.L7NetworkPolicy{p}})
		var ce *Error
		if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) || ce.File != "p.yaml" || ce.Line != 14 {
			t.Errorf("%s: got %v, want invalid at p.yaml:14", c.name, err)
		}
	}
}

// TestCompileIsDeterministic: the same input in any order gives an equal
// table.
func TestCompileIsDeterministic(t *testing.T) {
	ctx := context.Background()
	g := gen{rand.New(rand.NewPCG(11, 12))}
	for i := 0; i < 10; i++ {
		in := g.input()
		a, err := Compile(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		g.r.Shuffle(len(in.Pods), func(i, j int) { in.Pods[i], in.Pods[j] = in.Pods[j], in.Pods[i] })
		g.r.Shuffle(len(in.Policies), func(i, j int) { in.Policies[i], in.Policies[j] = in.Policies[j], in.Policies[i] })
		b, err := Compile(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("set %d: tables differ after reordering the input", i)
		}
	}
}

// TestPreviousKeepsIDs: with WithPrevious, sources and endpoints that still
// exist keep their IDs when new ones (sorting first) appear.
func TestPreviousKeepsIDs(t *testing.T) {
	ctx := context.Background()
	in := regoInput()
	a, err := Compile(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	in.Pods = append(in.Pods, pod("aaa", "first", "10.0.0.1", map[string]string{"app": "a"}), pod("shop", "orders2", "10.0.0.2", map[string]string{"app": "orders"}))
	b, err := Compile(ctx, in, WithPrevious(a))
	if err != nil {
		t.Fatal(err)
	}
	ids := func(t *table.Table) map[string]uint32 {
		m := map[string]uint32{}
		for _, id := range t.Identities {
			m[podKey(id.Namespace, id.Labels)+id.CIDR] = id.ID
		}
		for _, e := range t.Endpoints {
			m["ep:"+netip.AddrPortFrom(e.Addr, e.Port).String()] = e.ID
		}
		return m
	}
	before, after := ids(a), ids(b)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%q: ID %d became %d", k, v, after[k])
		}
	}
	if len(after) != len(before)+2 { // one new identity (aaa/first), one new endpoint (orders2)
		t.Errorf("got %d IDs after adding two pods (one endpoint), want %d", len(after), len(before)+2)
	}
}

// TestTableIsSorted: every slice is in its documented order (the datapath
// and Decide rely on it).
func TestTableIsSorted(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(5, 6))}
	for i := 0; i < 20; i++ {
		tab, err := Compile(context.Background(), g.input())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(tab.Paths, table.ComparePathRows) {
			t.Fatal("Paths not sorted")
		}
		if !slices.IsSortedFunc(tab.Classes, func(a, b table.SourceClass) int {
			if c := table.CmpU32(a.Endpoint, b.Endpoint); c != 0 {
				return c
			}
			return table.CmpU32(a.Identity, b.Identity)
		}) {
			t.Fatal("Classes not sorted")
		}
		for i, r := range tab.Rules {
			if r.ID != table.RuleID(i+1) {
				t.Fatalf("rule %d has ID %d", i, r.ID)
			}
		}
		for i := 1; i < len(tab.Paths); i++ {
			if table.ComparePathRows(tab.Paths[i-1], tab.Paths[i]) == 0 {
				t.Fatalf("duplicate path row %+v", tab.Paths[i])
			}
		}
	}
}

// TestRegoSyntaxErrorNamesLine: a module that does not parse is an error at
// the line of the syntax error.
func TestRegoSyntaxErrorNamesLine(t *testing.T) {
	in := regoInput()
	in.Modules["tenants.rego"] = "package tenants\n\nimport rego.v1\n\nallow if {\n\tinput.method == \n}\n"
	_, err := Compile(context.Background(), in)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != "tenants.rego" || ce.Line < 6 {
		t.Fatalf("got %v, want an error at tenants.rego:6 or 7", err)
	}
}

// TestCacheGivesSameTable: recompiling with the partial evaluation cache
// after changing, adding or removing a policy gives the table a fresh
// compilation gives.
func TestCacheGivesSameTable(t *testing.T) {
	ctx := context.Background()
	g := gen{rand.New(rand.NewPCG(21, 22))}
	for i := 0; i < 20; i++ {
		in := g.input()
		cache := NewCache()
		prev, err := Compile(ctx, in, WithCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			for j := range in.Policies {
				if in.Policies[j].Spec.Rego == nil {
					in.Policies[j].Spec.Rules = append(in.Policies[j].Spec.Rules, g.rule())
					break
				}
			}
		case 1:
			in.Policies = append(in.Policies, v1alpha1.L7NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "a-new"},
				Spec: v1alpha1.L7NetworkPolicySpec{Ports: []v1alpha1.PortSpec{{Port: 8080}}, Rules: []v1alpha1.Rule{g.rule()}}})
		case 2:
			in.Policies = in.Policies[1:]
		}
		cached, err := Compile(ctx, in, WithCache(cache), WithPrevious(prev))
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := Compile(ctx, in, WithPrevious(prev))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cached, fresh) {
			t.Fatalf("set %d: cached compilation differs from a fresh one", i)
		}
	}
}

// TestCacheSeesPodAddressChange: whether a Rego CIDR test holds for a pod
// depends on the pod's address, so a cached recompilation after a pod moved
// must decide as a fresh one does.
func TestCacheSeesPodAddressChange(t *testing.T) {
	ctx := context.Background()
	const module = "package subnet\n\nimport rego.v1\n\nallow if net.cidr_contains(\"10.1.0.0/24\", input.source.ip)\n"
	in := &Input{
		Pods: []corev1.Pod{
			pod("shop", "orders", "10.1.0.1", map[string]string{"app": "orders"}),
			pod("shop", "web", "10.1.0.5", map[string]string{"app": "web"}),
		},
		Policies: []v1alpha1.L7NetworkPolicy{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "subnet"},
			Spec: v1alpha1.L7NetworkPolicySpec{
				PodSelector:   metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
				Ports:         []v1alpha1.PortSpec{{Port: 8080}},
				DefaultAction: v1alpha1.ActionDeny,
				Rego:          &v1alpha1.RegoSource{File: "subnet.rego"},
			},
		}},
		Modules: map[string]string{"subnet.rego": module},
	}
	cache := NewCache()
	prev, err := Compile(ctx, in, WithCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	if d := prev.Decide(req("10.1.0.5", "GET", "/")); d.Action != table.DecisionAllow {
		t.Fatalf("web inside the subnet: %+v, want allow", d)
	}
	in.Pods[1].Status.PodIP = "10.2.0.5"
	cached, err := Compile(ctx, in, WithCache(cache), WithPrevious(prev))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Compile(ctx, in, WithPrevious(prev))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cached, fresh) {
		t.Fatal("cached compilation after a pod moved differs from a fresh one")
	}
	if d := cached.Decide(req("10.2.0.5", "GET", "/")); d.Action != table.DecisionDeny {
		t.Fatalf("web moved out of the subnet: %+v, want deny", d)
	}
}

// TestValidationAndCompilerAgree: a policy the validation (webhook, loader)
// accepts compiles, and one it rejects does not, so an admitted policy can
// never block an agent's whole policy set (and a policy the webhook refuses
// cannot be slipped in through the policy folder).
func TestValidationAndCompilerAgree(t *testing.T) {
	long := strings.Repeat("M", table.MaxMethodLen)
	for _, c := range []struct {
		name string
		http v1alpha1.HTTPRule
		ok   bool
		from []v1alpha1.Peer
	}{
		{"asterisk-form exact", v1alpha1.HTTPRule{Methods: []string{"OPTIONS"}, Paths: []v1alpha1.PathMatch{{Exact: "*"}}}, true, nil},
		{"asterisk-form prefix", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Prefix: "*"}}}, false, nil},
		{"longest method", v1alpha1.HTTPRule{Methods: []string{long}}, true, nil},
		{"method one byte too long", v1alpha1.HTTPRule{Methods: []string{long + "M"}}, false, nil},
		{"query in exact", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Exact: "/a?b"}}}, false, nil},
		{"longest pattern", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Prefix: "/" + strings.Repeat("a", table.MaxPathKey-2)}}}, true, nil},
		{"pattern one byte too long", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Prefix: "/" + strings.Repeat("a", table.MaxPathKey-1)}}}, false, nil},
		{"glob with **", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Glob: "/a/**/b"}}}, true, nil},
		{"glob with ***", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Glob: "/a/***"}}}, false, nil},
		{"glob with brackets", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Glob: "/a/[bc]"}}}, false, nil},
		{"glob with an escaped star", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Glob: "/a/%2A"}}}, false, nil},
		{"longest glob", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Glob: "/" + strings.Repeat("a*", (table.MaxPathKey-2)/2)}}}, true, nil},
		{"glob one byte too long", v1alpha1.HTTPRule{Paths: []v1alpha1.PathMatch{{Glob: "/" + strings.Repeat("a", table.MaxPathKey-1)}}}, false, nil},
		{"method twice", v1alpha1.HTTPRule{Methods: []string{"GET", "GET"}}, false, nil},
		{"CIDR", v1alpha1.HTTPRule{}, true, []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "10.0.0.0/8"}}}},
		{"CIDR with host bits", v1alpha1.HTTPRule{}, false, []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "10.0.0.1/8"}}}},
		{"IPv6 CIDR with host bits", v1alpha1.HTTPRule{}, false, []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "2001:db8::1/32"}}}},
		{"except with host bits", v1alpha1.HTTPRule{}, false, []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.1/16"}}}}},
		{"except outside the CIDR", v1alpha1.HTTPRule{}, false, []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"11.0.0.0/16"}}}}},
		{"IPv4-mapped CIDR", v1alpha1.HTTPRule{}, false, []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "::ffff:10.0.0.0/104"}}}},
	} {
		p := v1alpha1.L7NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"},
			Spec: v1alpha1.L7NetworkPolicySpec{Ports: []v1alpha1.PortSpec{{Port: 80}},
				Rules: []v1alpha1.Rule{{From: c.from, HTTP: []v1alpha1.HTTPRule{c.http}}}},
		}
		v1alpha1.Default(&p)
		errs, _ := validation.ValidatePolicy(&p)
		_, err := Compile(context.Background(), &Input{Policies: []v1alpha1.L7NetworkPolicy{p}})
		if (len(errs) == 0) != c.ok || (err == nil) != c.ok {
			t.Errorf("%s: validation %v, compile %v; want both to %s", c.name, errs, err, map[bool]string{true: "accept", false: "reject"}[c.ok])
		}
	}
}

// TestNonBooleanRegoDecisionRules: allow/deny rules of a user module must be
// boolean rules; a set, an object or another value would match whenever it is
// defined (an empty set included), so the compiler refuses them at their line.
func TestNonBooleanRegoDecisionRules(t *testing.T) {
	for _, body := range []string{
		"allow contains \"web\" if {\n\tinput.source.labels.app == \"web\"\n}\n",
		"deny contains msg if {\n\tinput.method == \"DELETE\"\n\tmsg := \"no deletes\"\n}\n",
		"allow := \"yes\" if {\n\tinput.method == \"GET\"\n}\n",
		"allow[x] := true if {\n\tx := input.method\n}\n",
	} {
		in := regoInput()
		in.Modules["tenants.rego"] = "package tenants\n\nimport rego.v1\n\n" + body
		_, err := Compile(context.Background(), in)
		var ce *Error
		if !errors.As(err, &ce) || ce.File != "tenants.rego" || ce.Line != 5 || !strings.Contains(ce.Msg, "boolean rule") {
			t.Errorf("%q: got %v, want a boolean-rule error at tenants.rego:5", body, err)
		}
	}
}
