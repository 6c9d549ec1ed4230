package compiler

import (
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// TestRedteamNULInRegoPathLiteral (red team, pol24): a Rego path literal
// holding a NUL byte is accepted (httppath.Canonical leaves it as it is),
// but the table keys exact patterns as "pattern\x00": the prefix
// "/admin\x00" is the key of the exact path "/admin". OPA:
// startswith("/admin", "/admin\x00") is false, so GET /admin is denied (no
// allow, defaultAction Deny); the table allows it. Refusing such a literal
// (as validation refuses control bytes in L7NetworkPolicy patterns and the
// compiler already does for globs) would be a correct outcome.
func TestRedteamNULInRegoPathLiteral(t *testing.T) {
	checkRegoAgainstOPA(t, "package tenants\n\nimport rego.v1\n\nallow if startswith(input.path, \"/admin\\u0000\")\n",
		[]table.Request{req("10.1.0.2", "GET", "/admin"), req("203.0.113.9", "DELETE", "/admin"), req("10.1.0.2", "GET", "/admin/x")})
}
