package compiler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/axon-dev/axon/policy/table"
)

// fuzzRequests are the requests FuzzRegoModule decides with the table and
// with OPA: every source kind (pod in shop, admin pod, pod in ops, external
// in and out of a CIDR) and paths rules of the seeds name.
var fuzzRequests = []table.Request{
	req("10.1.0.2", "GET", "/tenants/a"), req("10.1.0.2", "DELETE", "/tenants/a"),
	req("10.1.0.3", "DELETE", "/tenants/a"), req("10.1.0.4", "GET", "/public/x/y"),
	req("203.0.113.9", "GET", "/x"), req("203.0.113.9", "POST", "/x"), req("198.51.100.1", "GET", "/public/a"),
	req("10.1.0.2", "GET", "/admin"), req("10.1.0.2", "PUT", "/api/v1/items/7"), req("10.1.0.4", "GET", "/"),
}

// FuzzRegoModule compiles a policy whose rules are a fuzzed Rego module
// (spec.rego). The compiler must not panic and must fail only with an
// *Error naming the module (or the policy); when it compiles, the table
// must decide every request of fuzzRequests as OPA evaluates the library
// and the module (the Oracle).
func FuzzRegoModule(f *testing.F) {
	f.Add(tenantsModule)
	for _, body := range []string{
		"allow if input.method == \"GET\"\n",
		"deny if startswith(input.path, \"/admin\")\nallow if true\n",
		"allow if {\n\tinput.source.labels.app == \"web\"\n\tinput.method in {\"GET\", \"PUT\"}\n}\n",
		"allow if glob.match(\"/api/*/items/**\", [\"/\"], input.path)\n",
		"deny if not input.source.namespace\nallow if net.cidr_contains(\"10.1.0.0/30\", input.source.ip)\n",
		"allow if input.path == \"/\"\ndeny if input.source.labels.role\n",
		"allow if glob.match(\"/a/***\", [\"/\"], input.path)\n",
		"allow contains \"x\" if true\n",
		"allow if count(input.path) > 3\n",
	} {
		f.Add("package tenants\n\nimport rego.v1\n\n" + body)
	}
	f.Fuzz(func(t *testing.T, module string) {
		if len(module) > 4096 {
			return
		}
		in := regoInput()
		in.Modules["tenants.rego"] = module
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		tab, err := Compile(ctx, in)
		if err != nil {
			var ce *Error
			if ctx.Err() == nil && (!errors.As(err, &ce) || (ce.File != "tenants.rego" && ce.Policy != "shop/tenants")) {
				t.Fatalf("module %q: error %v is not an *Error about the module", module, err)
			}
			return
		}
		o, err := NewOracle(ctx, in)
		if err != nil {
			t.Fatalf("module %q compiles, but the oracle fails: %v", module, err)
		}
		for _, r := range fuzzRequests {
			want, err := o.Decide(ctx, r)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				t.Fatalf("module %q, %v: OPA: %v", module, r, err)
			}
			if got := tab.Decide(r); got != want {
				t.Errorf("module %q, %s %s from %v: table %+v, OPA %+v", module, r.Method, r.Target, r.Src, got, want)
			}
		}
	})
}
