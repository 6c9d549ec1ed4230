package compiler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/httppath"
	"github.com/axon-dev/axon/policy/table"
)

// gen draws random inputs from small vocabularies so that selectors, CIDRs,
// methods and paths collide often.
type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g gen) chance(p float64) bool    { return g.r.Float64() < p }

var (
	genNamespaces = []string{"shop", "ops", "dev"}
	genApps       = []string{"web", "api", "db", "batch"}
	genMethods    = []string{"GET", "POST", "DELETE", "PUT"}
	genSegments   = []string{"api", "v1", "admin", "items", "x", "1", "a.b", strings.Repeat("long", 12),
		// Spellings of one canonical form (issue 9 class 13).
		"@me", "%40me", "a:b", "a%3ab", "q%3F", "q%3f", "%20", "a+b", "a%2Bb"}
	genCIDRs = []v1alpha1.IPBlock{
		{CIDR: "10.0.0.0/8", Except: []string{"10.9.0.0/16", "10.1.0.0/16"}},
		{CIDR: "10.0.0.0/8"},
		{CIDR: "192.168.0.0/16", Except: []string{"192.168.1.0/24"}},
		{CIDR: "192.168.1.0/24"},
		{CIDR: "0.0.0.0/0"},
		{CIDR: "10.9.0.0/16", Except: []string{"10.9.1.0/24"}},
		{CIDR: "2001:db8::/32", Except: []string{"2001:db8:1::/48"}},
		// Pod addresses are 10.1.0.1-9: these split pods with equal labels.
		{CIDR: "10.1.0.0/29"},
		{CIDR: "10.1.0.4/30", Except: []string{"10.1.0.5/32"}},
	}
	genExternal = []string{"10.2.3.4", "10.9.0.1", "10.9.1.7", "192.168.1.5", "192.168.7.7", "172.16.0.1", "8.8.8.8", "2001:db8::5", "2001:db8:1::5", "2001:db9::1", "10.1.200.1"}
)

func (g gen) labels() map[string]string {
	l := map[string]string{"app": g.pick(genApps...)}
	if g.chance(0.5) {
		l["tier"] = g.pick("fe", "be")
	}
	if g.chance(0.3) {
		l["env"] = g.pick("prod", "dev")
	}
	return l
}

func (g gen) selector() *metav1.LabelSelector {
	s := &metav1.LabelSelector{}
	switch g.r.IntN(5) {
	case 0: // {}
	case 1, 2:
		s.MatchLabels = map[string]string{"app": g.pick(genApps...)}
		if g.chance(0.3) {
			s.MatchLabels["tier"] = g.pick("fe", "be")
		}
	case 3:
		s.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{g.pick(genApps...), g.pick(genApps...)}}}
		if g.chance(0.5) {
			s.MatchExpressions = append(s.MatchExpressions, metav1.LabelSelectorRequirement{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"dev"}})
		}
	case 4:
		op := metav1.LabelSelectorOpExists
		if g.chance(0.5) {
			op = metav1.LabelSelectorOpDoesNotExist
		}
		s.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: g.pick("tier", "env"), Operator: op}}
	}
	return s
}

func (g gen) nsSelector() *metav1.LabelSelector {
	switch g.r.IntN(3) {
	case 0:
		return &metav1.LabelSelector{}
	case 1:
		return &metav1.LabelSelector{MatchLabels: map[string]string{"team": g.pick("a", "b")}}
	}
	return &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": g.pick(genNamespaces...)}}
}

func (g gen) segs(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("/" + g.pick(genSegments...))
	}
	return b.String()
}

// pathMatch draws a pattern of at most 127 bytes (long segments make paths
// and patterns cross the 128-byte path key).
func (g gen) pathMatch() v1alpha1.PathMatch {
	for {
		if m := g.pathMatch1(); len(m.Exact+m.Prefix+m.Glob) <= table.MaxPathKey-1 {
			return m
		}
	}
}

func (g gen) pathMatch1() v1alpha1.PathMatch {
	switch g.r.IntN(3) {
	case 0:
		return v1alpha1.PathMatch{Exact: g.segs(1 + g.r.IntN(3))}
	case 1:
		p := g.segs(g.r.IntN(3))
		if p == "" || g.chance(0.2) {
			p += "/"
		}
		return v1alpha1.PathMatch{Prefix: p}
	}
	var b strings.Builder
	for n := 1 + g.r.IntN(3); n > 0; n-- {
		b.WriteString("/" + g.pick(append(genSegments, "*", "**", "?", "a*", "*.b", "i?ems")...))
	}
	return v1alpha1.PathMatch{Glob: b.String()}
}

func (g gen) rule() v1alpha1.Rule {
	r := v1alpha1.Rule{Action: v1alpha1.ActionAllow}
	if g.chance(0.35) {
		r.Action = v1alpha1.ActionDeny
	}
	switch {
	case g.chance(0.3): // from omitted
	case g.chance(0.05):
		r.From = []v1alpha1.Peer{}
	default:
		for n := 1 + g.r.IntN(2); n > 0; n-- {
			var p v1alpha1.Peer
			switch g.r.IntN(4) {
			case 0:
				p.PodSelector = g.selector()
			case 1:
				p.NamespaceSelector = g.nsSelector()
			case 2:
				p.PodSelector, p.NamespaceSelector = g.selector(), g.nsSelector()
			case 3:
				b := genCIDRs[g.r.IntN(len(genCIDRs))]
				p.IPBlock = &b
			}
			r.From = append(r.From, p)
		}
	}
	switch {
	case g.chance(0.3): // http omitted
	case g.chance(0.05):
		r.HTTP = []v1alpha1.HTTPRule{}
	default:
		for n := 1 + g.r.IntN(2); n > 0; n-- {
			var h v1alpha1.HTTPRule
			if g.chance(0.6) {
				for m := 1 + g.r.IntN(2); m > 0; m-- {
					// A method twice is invalid (validation).
					if mm := g.pick(genMethods...); !slices.Contains(h.Methods, mm) {
						h.Methods = append(h.Methods, mm)
					}
				}
			}
			if g.chance(0.8) {
				for m := 1 + g.r.IntN(3); m > 0; m-- {
					h.Paths = append(h.Paths, g.pathMatch())
				}
			}
			r.HTTP = append(r.HTTP, h)
		}
	}
	return r
}

func (g gen) input() *Input {
	in := &Input{}
	for i, n := range genNamespaces {
		ns := corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"team": g.pick("a", "b")}}}
		if i == 2 && g.chance(0.5) {
			continue // a namespace only pods mention
		}
		in.Namespaces = append(in.Namespaces, ns)
	}
	for i := 0; i < 10; i++ {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: g.pick(genNamespaces...), Name: fmt.Sprintf("pod%d", i), Labels: g.labels()}}
		p.Status.PodIP = fmt.Sprintf("10.1.0.%d", i+1)
		if i == 9 {
			p.Status.PodIP = "2001:db8:1::9"
		}
		in.Pods = append(in.Pods, p)
	}
	for i := 1 + g.r.IntN(5); i > 0; i-- {
		p := v1alpha1.L7NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: g.pick(genNamespaces...), Name: fmt.Sprintf("p%d", i)}}
		p.Spec.PodSelector = *g.selector()
		p.Spec.Ports = []v1alpha1.PortSpec{{Port: 8080}}
		if g.chance(0.3) {
			p.Spec.Ports = append(p.Spec.Ports, v1alpha1.PortSpec{Port: 80})
		}
		p.Spec.Mode = v1alpha1.ModeEnforce
		if g.chance(0.3) {
			p.Spec.Mode = v1alpha1.ModeAudit
		}
		p.Spec.DefaultAction = v1alpha1.ActionDeny
		if g.chance(0.4) {
			p.Spec.DefaultAction = v1alpha1.ActionAllow
		}
		if g.chance(0.2) {
			file := fmt.Sprintf("m%d.rego", i)
			p.Spec.Rego = &v1alpha1.RegoSource{File: file}
			if in.Modules == nil {
				in.Modules = map[string]string{}
			}
			in.Modules[file] = g.module()
		} else {
			for n := g.r.IntN(5); n > 0; n-- {
				p.Spec.Rules = append(p.Spec.Rules, g.rule())
			}
		}
		in.Policies = append(in.Policies, p)
	}
	return in
}

// module draws a Rego policy module within the supported fragment.
func (g gen) module() string {
	var b strings.Builder
	b.WriteString("package gen\n\nimport rego.v1\n\n")
	if g.chance(0.5) {
		b.WriteString("default allow := false\n\n")
	}
	for n := 1 + g.r.IntN(3); n > 0; n-- {
		fmt.Fprintf(&b, "%s if {\n", g.pick("allow", "allow", "deny"))
		glob := false // the fragment has at most one glob per condition
		for c := 1 + g.r.IntN(3); c > 0; c-- {
			cond := g.condition()
			for glob && strings.HasPrefix(cond, "glob.match") {
				cond = g.condition()
			}
			glob = glob || strings.HasPrefix(cond, "glob.match")
			b.WriteString("\t" + cond + "\n")
		}
		b.WriteString("}\n\n")
	}
	return b.String()
}

func (g gen) condition() string {
	neg := ""
	if g.chance(0.2) {
		neg = "not "
	}
	switch g.r.IntN(12) {
	case 0:
		return fmt.Sprintf("%sinput.method == %q", neg, g.pick(genMethods...))
	case 1:
		return fmt.Sprintf("%sinput.method in {%q, %q}", neg, g.pick(genMethods...), g.pick(genMethods...))
	case 2:
		return fmt.Sprintf("%sinput.path == %q", neg, httppath.Canonical(g.segs(1+g.r.IntN(2))))
	case 3:
		return fmt.Sprintf("%sstartswith(input.path, %q)", neg, httppath.Canonical(g.segs(1+g.r.IntN(2))))
	case 4:
		return fmt.Sprintf("glob.match(%q, [\"/\"], input.path)", "/"+g.pick("*", "**", "api")+"/"+g.pick("*", "v1", "x?"))
	case 5:
		return fmt.Sprintf("%sinput.source.namespace == %q", neg, g.pick(genNamespaces...))
	case 6:
		return fmt.Sprintf("%sinput.source.labels.%s == %q", neg, g.pick("app", "tier"), g.pick(append(genApps, "fe")...))
	case 7:
		return fmt.Sprintf("%sinput.source.labels.%s", neg, g.pick("tier", "env"))
	case 8:
		// Negated calls are false where their source argument is absent
		// (external sources, pods without the label), unlike negated ==.
		return fmt.Sprintf("%sinput.source.namespace in {%q, %q}", neg, g.pick(genNamespaces...), g.pick(genNamespaces...))
	case 9:
		return fmt.Sprintf("%sinput.source.labels.%s in {%q, %q}", neg, g.pick("app", "tier"), g.pick(genApps...), g.pick("fe", "be"))
	case 10:
		if g.chance(0.2) {
			return neg + "object.subset(input.source.labels, {})"
		}
		return fmt.Sprintf("%sobject.subset(input.source.labels, {%q: %q})", neg, g.pick("app", "tier"), g.pick(append(genApps, "fe")...))
	}
	b := genCIDRs[g.r.IntN(len(genCIDRs))]
	if g.chance(0.3) {
		return fmt.Sprintf("not input.source.namespace; %snet.cidr_contains(%q, input.source.ip)", neg, b.CIDR)
	}
	if g.chance(0.3) {
		// Pods included: identities are split by the CIDRs.
		return fmt.Sprintf("%snet.cidr_contains(%q, input.source.ip)", neg, b.CIDR)
	}
	return fmt.Sprintf("%sinput.destination.labels.app == %q", neg, g.pick(genApps...))
}

// request draws a request; eps (if any) are the policed endpoints, chosen as
// destination most of the time.
func (g gen) request(in *Input, eps []table.Endpoint) table.Request {
	var r table.Request
	if g.chance(0.6) {
		r.Src = netip.MustParseAddr(in.Pods[g.r.IntN(len(in.Pods))].Status.PodIP)
	} else {
		r.Src = netip.MustParseAddr(g.pick(genExternal...))
	}
	dst := netip.MustParseAddr(in.Pods[g.r.IntN(len(in.Pods))].Status.PodIP)
	port := uint16(8080)
	if g.chance(0.2) {
		port = 80
	}
	r.Dst = netip.AddrPortFrom(dst, port)
	if len(eps) > 0 && g.chance(0.8) {
		e := eps[g.r.IntN(len(eps))]
		r.Dst = netip.AddrPortFrom(e.Addr, e.Port)
	}
	r.Method = g.pick(append(genMethods, "PATCH", "get", "OPTIONS", "G@T", strings.Repeat("M", table.MaxMethod+1))...)
	switch {
	case g.chance(0.02):
		r.Target = "*"
	case g.chance(0.05):
		r.Target = g.pick("/api/../admin", "//admin", "/a%2fb", "/%41pi", "http://h/api/v1?x", "/api%20x",
			"/api/v1#/../admin", "/x?q#f", "/a%3A%3f%c3%a9")
	default:
		p := g.segs(g.r.IntN(4))
		if p == "" || g.chance(0.1) {
			p += "/"
		}
		if g.chance(0.1) {
			p += "x" // /adminx, /v1x: prefix boundaries
		}
		if g.chance(0.1) {
			p += "?q=/admin"
		}
		r.Target = p
	}
	return r
}

// TestDifferentialTableVersusOPA is issue 3's differential test: for random
// policy sets and random requests, the compiled table decides exactly what
// OPA's full evaluation of the Rego library decides.
func TestDifferentialTableVersusOPA(t *testing.T) {
	sets, perSet := 100, 1000
	if testing.Short() {
		sets, perSet = 20, 500
	}
	ctx := context.Background()
	total, byRego := 0, 0
	byAction := map[table.DecisionAction]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		t.Errorf(format, args...)
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range work {
				g := gen{rand.New(rand.NewPCG(uint64(seed), 7))}
				in := g.input()
				tab, err := Compile(ctx, in)
				if err != nil {
					fail("seed %d: compile: %v", seed, err)
					continue
				}
				o, err := NewOracle(ctx, in)
				if err != nil {
					fail("seed %d: oracle: %v", seed, err)
					continue
				}
				bad := 0
				for i := 0; i < perSet; i++ {
					r := g.request(in, tab.Endpoints)
					want, err := o.Decide(ctx, r)
					if err != nil {
						fail("seed %d: %v", seed, err)
						break
					}
					mu.Lock()
					byAction[want.Action]++
					if want.Rule != 0 && tab.Rules[want.Rule-1].Index >= 0 && isRego(in, tab.Rules[want.Rule-1]) {
						byRego++
					}
					mu.Unlock()
					if got := tab.Decide(r); got != want && bad < 3 {
						bad++
						fail("seed %d: %s %s %s -> %s: table %+v, OPA %+v\n%s", seed, r.Src, r.Method, r.Target, r.Dst, got, want, describe(in, tab))
					}
				}
				mu.Lock()
				total += perSet
				mu.Unlock()
			}
		}()
	}
	for s := 0; s < sets; s++ {
		work <- s
	}
	close(work)
	wg.Wait()
	t.Logf("%d requests over %d policy sets: %v (allow, deny, audit_deny); %d decided by rules of Rego policies", total, sets, byAction, byRego)
	if byAction[table.DecisionAllow] == 0 || byAction[table.DecisionDeny] == 0 || byAction[table.DecisionAuditDeny] == 0 || byRego == 0 {
		t.Errorf("the random sets do not exercise every outcome")
	}
}

func isRego(in *Input, r table.Rule) bool {
	for _, p := range in.Policies {
		if p.Namespace == r.Namespace && p.Name == r.Policy {
			return p.Spec.Rego != nil
		}
	}
	return false
}

func describe(in *Input, t *table.Table) string {
	var b strings.Builder
	for _, p := range in.Policies {
		fmt.Fprintf(&b, "policy %s/%s %+v\n", p.Namespace, p.Name, p.Spec)
	}
	for _, p := range in.Pods {
		fmt.Fprintf(&b, "pod %s/%s %v %s\n", p.Namespace, p.Name, p.Labels, p.Status.PodIP)
	}
	for _, r := range t.Rules {
		fmt.Fprintf(&b, "rule %+v\n", r)
	}
	return b.String()
}
