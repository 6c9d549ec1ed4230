package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// auditPolicy adds, in Audit mode, a deny of /api/legacy from anyone.
const auditPolicy = `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata:
  name: orders-legacy
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: orders
  ports:
  - port: 8080
  mode: Audit
  defaultAction: Allow
  rules:
  - action: Deny
    http:
    - paths:
      - prefix: /api/legacy
`

// hostCurl runs curl from the test process: the world source.
func hostCurl(t *testing.T, url string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "curl",
		append([]string{"-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"}, append(args, url)...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return curlFailure(ee.ExitCode(), string(out))
	}
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	return f[len(f)-1]
}

func TestAllowDenyAudit(t *testing.T) {
	// TCX links (this kernel's default) and the legacy clsact + cls_bpf
	// path older kernels use must enforce alike.
	for i, mode := range []string{"tcx", "clsact"} {
		t.Run(mode, func(t *testing.T) { testAllowDenyAudit(t, mode, 1+10*i) })
	}
}

func testAllowDenyAudit(t *testing.T, mode string, subnet int) {
	tp := newTopo(t, subnet)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	writeFile(t, tp.dir, "legacy.yaml", auditPolicy)
	a := startAgentMode(t, mode, tp.dir, testPinDir(t), tp.ports()...)
	if v := a.Metric("axon_attached", map[string]string{"mode": mode}); v != 2 {
		t.Fatalf("axon_attached{mode=%q} = %v, want 2 (both directions)", mode, v)
	}

	cases := []struct {
		name   string
		from   *netns.Host // nil: the test process, a world source
		client string      // curl or go
		method string
		path   string
		want   string // status or "reset"
	}{
		{"web may GET /api/orders", tp.web, "curl", "GET", "/api/orders/42", "200"},
		{"web may GET /api/orders (Go client)", tp.web, "go", "GET", "/api/orders/43", "200"},
		{"nobody may touch /api/admin", tp.web, "curl", "GET", "/api/admin/users", "reset"},
		{"web may not POST", tp.web, "go", "POST", "/api/orders/44", "reset"},
		{"batch is denied by default", tp.batch, "curl", "GET", "/api/orders/45", "reset"},
		{"batch is denied by default (Go client)", tp.batch, "go", "GET", "/api/orders/46", "reset"},
		{"world is denied by default", nil, "curl", "GET", "/api/orders/47", "reset"},
		{"non-canonical path is denied", tp.web, "curl", "GET", "/api/x/../admin/48", "reset"},
		{"audit-mode deny lets the request pass", tp.web, "curl", "GET", "/api/legacy/49", "200"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := tp.url + c.path
			var got string
			switch {
			case c.from == nil:
				got = hostCurl(t, url, "-X", c.method, "--path-as-is")
			case c.client == "go":
				got = goOutcome(c.from, c.method, url)
			default:
				got = curlOutcome(t, c.from, url, "-X", c.method, "--path-as-is")
			}
			if got != c.want {
				t.Errorf("%s %s: got %s, want %s", c.method, c.path, got, c.want)
			}
			seen := tp.server.Saw(c.path)
			if want := c.want != "reset"; seen != want {
				t.Errorf("server saw %s: %v, want %v (server log %q)", c.path, seen, want, tp.server.Requests())
			}
		})
	}

	dec := func(policy, rule, decision string) float64 {
		return a.Metric("axon_policy_decisions_total", map[string]string{
			"namespace": "shop", "policy": policy, "rule": rule, "decision": decision})
	}
	if v := dec("orders-api", "1", "allow"); v < 2 {
		t.Errorf("allow count of orders-api rule 1 = %v, want >= 2", v)
	}
	if v := dec("orders-api", "0", "deny"); v < 1 {
		t.Errorf("deny count of orders-api rule 0 (/api/admin) = %v, want >= 1", v)
	}
	if v := dec("orders-api", "default", "deny"); v < 4 {
		t.Errorf("deny count of orders-api default = %v, want >= 4 (POST, 2 batch, world)", v)
	}
	if v := dec("orders-legacy", "0", "audit_deny"); v != 1 {
		t.Errorf("audit_deny count of orders-legacy rule 0 = %v, want 1", v)
	}
	if v := a.Metric("axon_drops_total", map[string]string{"reason": "non_canonical_path"}); v < 1 {
		t.Errorf("non_canonical_path drops = %v, want >= 1", v)
	}
	// Deny events reach the agent through the ring buffer and, with
	// --log-decisions, the log names the policy and request.
	a.WaitMetric("axon_events_total", map[string]string{"decision": "deny"}, 10*time.Second, func(v float64) bool { return v >= 5 })
	a.WaitMetric("axon_events_total", map[string]string{"decision": "audit_deny"}, 10*time.Second, func(v float64) bool { return v == 1 })
	if logs := a.Logs.String(); !strings.Contains(logs, "msg=decision decision=deny") || !strings.Contains(logs, "path=/api/admin/users") {
		t.Errorf("the agent log has no decision line for the denied /api/admin/users:\n%s", logs)
	}
}
