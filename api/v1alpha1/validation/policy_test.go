package validation

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
)

func validPolicy() *v1alpha1.L7NetworkPolicy {
	return &v1alpha1.L7NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-api", Namespace: "shop"},
		Spec: v1alpha1.L7NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
			Ports:       []v1alpha1.PortSpec{{Port: 8080}},
			Rules: []v1alpha1.Rule{{
				Action: v1alpha1.ActionAllow,
				From: []v1alpha1.Peer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
					{IPBlock: &v1alpha1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.9.0.0/16"}}},
				},
				HTTP: []v1alpha1.HTTPRule{{
					Methods: []string{"GET", "HEAD"},
					Paths: []v1alpha1.PathMatch{
						{Exact: "/healthz"}, {Prefix: "/api/v1"}, {Glob: "/api/v1/orders/*/items"},
					},
				}},
			}},
		},
	}
}

func rule0(p *v1alpha1.L7NetworkPolicy) *v1alpha1.Rule { return &p.Spec.Rules[0] }
func path0(p *v1alpha1.L7NetworkPolicy) *v1alpha1.PathMatch {
	return &p.Spec.Rules[0].HTTP[0].Paths[0]
}

func TestValidatePolicy(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxPatternLen)
	cases := []struct {
		name   string
		mutate func(p *v1alpha1.L7NetworkPolicy)
		errs   []string // field paths of the expected errors, in order
		warn   string   // substring of an expected warning
	}{
		{name: "valid", mutate: func(*v1alpha1.L7NetworkPolicy) {}},
		{name: "defaults unset", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Mode, p.Spec.DefaultAction, rule0(p).Action = "", "", ""
		}},
		{name: "no name", mutate: func(p *v1alpha1.L7NetworkPolicy) { p.Name = "" },
			errs: []string{"metadata.name"}},
		{name: "name with slash", mutate: func(p *v1alpha1.L7NetworkPolicy) { p.Name = "a/b" },
			errs: []string{"metadata.name"}},
		{name: "bad namespace", mutate: func(p *v1alpha1.L7NetworkPolicy) { p.Namespace = "Shop" },
			errs: []string{"metadata.namespace"}},
		{name: "bad selector", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.PodSelector.MatchLabels = map[string]string{"app": "not a value!"}
		}, errs: []string{"spec.podSelector.matchLabels"}},
		{name: "no ports", mutate: func(p *v1alpha1.L7NetworkPolicy) { p.Spec.Ports = nil },
			errs: []string{"spec.ports"}},
		{name: "port out of range", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Ports = []v1alpha1.PortSpec{{Port: 0}, {Port: 65536}}
		}, errs: []string{"spec.ports[0].port", "spec.ports[1].port"}},
		{name: "duplicate port", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Ports = []v1alpha1.PortSpec{{Port: 80}, {Port: 80}}
		}, errs: []string{"spec.ports[1].port"}},
		{name: "bad mode", mutate: func(p *v1alpha1.L7NetworkPolicy) { p.Spec.Mode = "enforce" },
			errs: []string{"spec.mode"}},
		{name: "bad default action", mutate: func(p *v1alpha1.L7NetworkPolicy) { p.Spec.DefaultAction = "Reject" },
			errs: []string{"spec.defaultAction"}},
		{name: "bad rule action", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).Action = "allow" },
			errs: []string{"spec.rules[0].action"}},
		{name: "no rules warns", mutate: func(p *v1alpha1.L7NetworkPolicy) { p.Spec.Rules = nil },
			warn: "no rules"},
		{name: "allow rules in default-allow policy", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.DefaultAction = v1alpha1.ActionAllow
		}},
		{name: "empty from warns", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).From = []v1alpha1.Peer{} },
			warn: "spec.rules[0].from: empty list matches no source"},
		{name: "empty http warns", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).HTTP = []v1alpha1.HTTPRule{} },
			warn: "spec.rules[0].http: empty list matches no request"},
		{name: "omitted from and http are fine", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).From, rule0(p).HTTP = nil, nil
		}},
		{name: "empty peer", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).From[0] = v1alpha1.Peer{} },
			errs: []string{"spec.rules[0].from[0]"}},
		{name: "ipBlock with selector", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).From[1].NamespaceSelector = &metav1.LabelSelector{}
		}, errs: []string{"spec.rules[0].from[1].ipBlock"}},
		{name: "namespaceSelector alone is fine", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).From[0] = v1alpha1.Peer{NamespaceSelector: &metav1.LabelSelector{}}
		}},
		{name: "bad cidr", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).From[1].IPBlock.CIDR = "10.0.0/8" },
			errs: []string{"spec.rules[0].from[1].ipBlock.cidr"}},
		{name: "cidr with host bits", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).From[1].IPBlock.CIDR = "10.1.2.3/8" },
			errs: []string{"spec.rules[0].from[1].ipBlock.cidr"}},
		{name: "ipv4-mapped cidr", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).From[1].IPBlock.CIDR = "::ffff:10.0.0.0/104" },
			errs: []string{"spec.rules[0].from[1].ipBlock.cidr"}},
		{name: "except outside cidr", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).From[1].IPBlock.Except = []string{"10.9.0.0/16", "192.168.0.0/16", "10.0.0.0/8", "10.0.0.0/4", "::/64"}
		}, errs: []string{
			"spec.rules[0].from[1].ipBlock.except[1]", "spec.rules[0].from[1].ipBlock.except[2]",
			"spec.rules[0].from[1].ipBlock.except[3]", "spec.rules[0].from[1].ipBlock.except[4]",
		}},
		{name: "bad except syntax", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).From[1].IPBlock.Except = []string{"nope"} },
			errs: []string{"spec.rules[0].from[1].ipBlock.except[0]"}},
		{name: "ipv6 block", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).From[1].IPBlock = &v1alpha1.IPBlock{CIDR: "2001:db8::/32", Except: []string{"2001:db8:1::/48"}}
		}},
		{name: "method token syntax", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).HTTP[0].Methods = []string{"GET", "BAD METHOD", "", "X(Y)"}
		}, errs: []string{"spec.rules[0].http[0].methods[1]", "spec.rules[0].http[0].methods[2]", "spec.rules[0].http[0].methods[3]"}},
		{name: "odd but valid method token", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).HTTP[0].Methods = []string{"PROPFIND", "M-SEARCH", "X_Y.Z~"}
		}},
		{name: "method too long", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).HTTP[0].Methods = []string{strings.Repeat("A", MaxMethodLen+1)}
		}, errs: []string{"spec.rules[0].http[0].methods[0]"}},
		{name: "duplicate method", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).HTTP[0].Methods = []string{"GET", "GET"}
		}, errs: []string{"spec.rules[0].http[0].methods[1]"}},
		{name: "lowercase method warns", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			rule0(p).HTTP[0].Methods = []string{"get"}
		}, warn: "case-sensitive"},
		{name: "empty methods list", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).HTTP[0].Methods = []string{} },
			errs: []string{"spec.rules[0].http[0].methods"}},
		{name: "empty paths list", mutate: func(p *v1alpha1.L7NetworkPolicy) { rule0(p).HTTP[0].Paths = []v1alpha1.PathMatch{} },
			errs: []string{"spec.rules[0].http[0].paths"}},
		{name: "no pattern", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{} },
			errs: []string{"spec.rules[0].http[0].paths[0]"}},
		{name: "two patterns", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Prefix = "/x" },
			errs: []string{"spec.rules[0].http[0].paths[0]"}},
		{name: "pattern of 127 bytes", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = long[:MaxPatternLen] }},
		{name: "pattern of 128 bytes", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = long },
			errs: []string{"spec.rules[0].http[0].paths[0].exact"}},
		{name: "relative prefix", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{Prefix: "api"} },
			errs: []string{"spec.rules[0].http[0].paths[0].prefix"}},
		{name: "dot segment", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = "/a/../admin" },
			errs: []string{"spec.rules[0].http[0].paths[0].exact"}},
		{name: "encoded letter", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = "/%61dmin" },
			errs: []string{"spec.rules[0].http[0].paths[0].exact"}},
		{name: "encoded space is literal", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = "/a%20b" }},
		{name: "query in exact", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = "/a?b=1" },
			errs: []string{"spec.rules[0].http[0].paths[0].exact"}},
		{name: "asterisk form", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = "*" }},
		{name: "escape servers decode warns", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = "/orders/%40me" },
			warn: "canonical form /orders/@me"},
		{name: "lower-case hex warns", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Prefix, path0(p).Exact = "/q%3f", "" },
			warn: "canonical form /q%3F"},
		{name: "fragment in a glob", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{Glob: "/a/*#x"} },
			errs: []string{"spec.rules[0].http[0].paths[0].glob"}},
		{name: "escaped star in a glob", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{Glob: "/a/%2a/*"} },
			errs: []string{"spec.rules[0].http[0].paths[0].glob"}},
		{name: "escaped bracket in a glob", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{Glob: "/a/%5B1%5D/*"} },
			errs: []string{"spec.rules[0].http[0].paths[0].glob"}},
		{name: "star in exact warns", mutate: func(p *v1alpha1.L7NetworkPolicy) { path0(p).Exact = "/a/*" },
			warn: "matched literally"},
		{name: "glob wildcards", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			*path0(p) = v1alpha1.PathMatch{Glob: "/files/**/v?/*.json"}
		}},
		{name: "glob character class", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{Glob: "/v[12]/*"} },
			errs: []string{"spec.rules[0].http[0].paths[0].glob"}},
		{name: "glob alternation", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{Glob: "/{a,b}/*"} },
			errs: []string{"spec.rules[0].http[0].paths[0].glob"}},
		{name: "glob escape", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{Glob: `/a\*`} },
			errs: []string{"spec.rules[0].http[0].paths[0].glob"}},
		{name: "glob triple star", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{Glob: "/a/***"} },
			errs: []string{"spec.rules[0].http[0].paths[0].glob"}},
		{name: "glob without wildcard warns", mutate: func(p *v1alpha1.L7NetworkPolicy) { *path0(p) = v1alpha1.PathMatch{Glob: "/a/b"} },
			warn: "use exact"},
		{name: "rego file", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules = nil
			p.Spec.Rego = &v1alpha1.RegoSource{File: "tenants/orders.rego"}
		}},
		{name: "rego and rules", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rego = &v1alpha1.RegoSource{Inline: "package x"}
		}, errs: []string{"spec.rules"}},
		{name: "rego with no source", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{}
		}, errs: []string{"spec.rego"}},
		{name: "rego with two sources", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules = nil
			p.Spec.Rego = &v1alpha1.RegoSource{File: "a.rego", ConfigMapRef: &v1alpha1.ConfigMapKeyRef{Name: "a", Key: "b"}}
		}, errs: []string{"spec.rego"}},
		{name: "rego file escaping the directory", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{File: "../secret.rego"}
		}, errs: []string{"spec.rego.file"}},
		{name: "rego file absolute", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{File: "/etc/x.rego"}
		}, errs: []string{"spec.rego.file"}},
		{name: "rego file not rego", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{File: "x.yaml"}
		}, errs: []string{"spec.rego.file"}},
		{name: "configMapRef without key", mutate: func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{ConfigMapRef: &v1alpha1.ConfigMapKeyRef{Name: "a"}}
		}, errs: []string{"spec.rego.configMapRef.key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validPolicy()
			tc.mutate(p)
			errs, warns := ValidatePolicy(p)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			if !slices.Equal(got, tc.errs) {
				t.Errorf("error fields = %q, want %q\nerrors: %v", got, tc.errs, errs.ToAggregate())
			}
			if tc.warn == "" && len(warns) > 0 {
				t.Errorf("unexpected warnings %q", warns)
			}
			if tc.warn != "" && !slices.ContainsFunc(warns, func(w string) bool { return strings.Contains(w, tc.warn) }) {
				t.Errorf("warnings %q lack %q", warns, tc.warn)
			}
		})
	}
}
