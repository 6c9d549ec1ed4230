package compiler

import (
	"context"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// Red team (pol24): a negated built-in call on a source attribute that
// external sources do not have. OPA evaluates `not f(input.source.x, ...)`
// as false when input.source.x is undefined (the call has no value, and OPA
// does not count that as "not"), while `not input.source.x == "v"` is true.
// The compiler reads both as "the attribute test is false", i.e. true for
// every external source. In an allow rule the table then allows external
// sources that OPA denies.

// checkRegoAgainstOPA compiles the regoInput fixture (shop/tenants protects
// 10.1.0.1:8080, defaultAction Deny) with module as its Rego policy and
// fails for every request the table decides otherwise than OPA.
func checkRegoAgainstOPA(t *testing.T, module string, reqs []table.Request) {
	t.Helper()
	in := regoInput()
	in.Modules["tenants.rego"] = module
	checkAgainstOPA(t, in, reqs)
}

// checkAgainstOPA compiles in and fails for every request of reqs the table
// decides otherwise than OPA's full evaluation. A compile error passes:
// refusing what the compiler cannot map is a correct outcome.
func checkAgainstOPA(t *testing.T, in *Input, reqs []table.Request) {
	t.Helper()
	ctx := context.Background()
	tab, err := Compile(ctx, in)
	if err != nil {
		t.Logf("compile refuses the input: %v", err)
		return
	}
	o, err := NewOracle(ctx, in)
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	for _, r := range reqs {
		want, err := o.Decide(ctx, r)
		if err != nil {
			t.Fatalf("OPA: %v", err)
		}
		if got := tab.Decide(r); got != want {
			t.Errorf("request %s %s from %s to %s: table %s (rule %d), OPA %s (rule %d)",
				r.Method, r.Target, r.Src, r.Dst, got.Action, got.Rule, want.Action, want.Rule)
		}
	}
}

// externalAndPods are requests from two external addresses and from pods of
// shop (app=web, and app=web role=admin) and ops (app=probe).
var externalAndPods = []table.Request{
	req("203.0.113.9", "GET", "/x"), req("198.51.100.1", "POST", "/orders"),
	req("10.1.0.2", "GET", "/x"), req("10.1.0.3", "GET", "/x"), req("10.1.0.4", "GET", "/x"),
}

// TestRedteamNegatedMembershipOnAbsentSource: `not input.source.namespace in
// {...}` and `not input.source.labels.k in {...}` in an allow rule. OPA:
// external sources are not allowed (default Deny). Table: allowed.
func TestRedteamNegatedMembershipOnAbsentSource(t *testing.T) {
	for name, body := range map[string]string{
		"namespace": "allow if {\n\tnot input.source.namespace in {\"untrusted\"}\n}\n",
		"label":     "allow if {\n\tnot input.source.labels.app in {\"batch\", \"crawler\"}\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			checkRegoAgainstOPA(t, "package tenants\n\nimport rego.v1\n\n"+body, externalAndPods)
		})
	}
}

// TestRedteamNegatedSubsetOnAbsentSource: `not object.subset(input.source.labels,
// {"k": "v"})` (documented as supported for one label) and its `{}` form in
// an allow rule. OPA: external sources are not allowed. Table: allowed.
func TestRedteamNegatedSubsetOnAbsentSource(t *testing.T) {
	for name, body := range map[string]string{
		"one label": "allow if {\n\tnot object.subset(input.source.labels, {\"app\": \"batch\"})\n}\n",
		"empty":     "allow if {\n\tnot object.subset(input.source.labels, {})\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			checkRegoAgainstOPA(t, "package tenants\n\nimport rego.v1\n\n"+body, externalAndPods)
		})
	}
}

// TestRedteamNegatedMembershipOnAbsentLabel: the same for known pods that
// lack the label. `not input.source.labels.role in {"admin"}` is meant as
// "any source but admins"; OPA allows no pod without a role label (shop/web
// 10.1.0.2, ops/probe 10.1.0.4), the table allows them.
func TestRedteamNegatedMembershipOnAbsentLabel(t *testing.T) {
	checkRegoAgainstOPA(t, "package tenants\n\nimport rego.v1\n\nallow if {\n\tnot input.source.labels.role in {\"admin\"}\n}\n",
		[]table.Request{req("10.1.0.2", "GET", "/x"), req("10.1.0.4", "DELETE", "/x"), req("10.1.0.3", "GET", "/x")})
}
