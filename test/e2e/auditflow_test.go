package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
	"github.com/axon-dev/axon/test/netns"
)

// flowPods: shop/orders-0 serves; web-0 and batch-0 call it.
const flowPods = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: orders-0, namespace: shop, labels: {app: orders, workload: orders}}
status: {phase: Running, podIP: %[1]s, podIPs: [{ip: %[1]s}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web, workload: web}}
status: {phase: Running, podIP: %[2]s, podIPs: [{ip: %[2]s}]}
---
apiVersion: v1
kind: Pod
metadata: {name: batch-0, namespace: shop, labels: {app: batch, workload: batch}}
status: {phase: Running, podIP: %[3]s, podIPs: [{ip: %[3]s}]}
`

// flowPolicy is the policy of the workflow; %[1]s is its mode, %[2]s the
// rules added by the fix.
const flowPolicy = `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: orders-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  mode: %[1]s
  defaultAction: Deny
  rules:
  - action: Allow
    from: [{podSelector: {matchLabels: {app: web}}}]
    http:
    - methods: [GET]
      paths: [{prefix: /api/orders}]
%[2]s`

const flowFix = `  - action: Allow
    http:
    - methods: [GET]
      paths: [{exact: /healthz}]
  - action: Allow
    from: [{podSelector: {matchLabels: {app: batch}}}]
    http:
    - methods: [POST]
      paths: [{prefix: /api/orders}]
`

// TestAuditWorkflow walks docs/audit-workflow.md on a real agent: a policy
// in Audit mode, traffic, a report that names what would break, the fix, a
// report that says it is safe, Enforce, and the denies watched with axon
// observe. Its log is the output the document shows.
func TestAuditWorkflow(t *testing.T) {
	netns.RequireRoot(t)
	n := netns.New(t, "10.91.3.0/24")
	orders := n.AddHost("orders", "10.91.3.10")
	web := n.AddHost("web", "10.91.3.20")
	batch := n.AddHost("batch", "10.91.3.30")
	srv := orders.Serve(t, 8080)
	base := "http://" + srv.Addr
	dir := t.TempDir()
	writeFile(t, dir, "pods.yaml", fmt.Sprintf(flowPods, orders.Addr, web.Addr, batch.Addr))
	writeFile(t, dir, "orders-api.yaml", fmt.Sprintf(flowPolicy, "Audit", ""))
	a := agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: dir, PinDir: testPinDir(t), Ifaces: []string{orders.Port}}, 15*time.Second)

	traffic := func() map[string]string {
		out := map[string]string{}
		for i := range 20 {
			out["web GET /api/orders"] = goOutcome(web, "GET", fmt.Sprintf("%s/api/orders/%d", base, 1000+i))
		}
		for range 5 {
			out["web GET /healthz"] = goOutcome(web, "GET", base+"/healthz")
			out["batch GET /healthz"] = goOutcome(batch, "GET", base+"/healthz")
		}
		for i := range 8 {
			out["batch POST /api/orders"] = goOutcome(batch, http.MethodPost, fmt.Sprintf("%s/api/orders/%d", base, i))
		}
		return out
	}
	report := func(step string, wantCode int, want ...string) string {
		t.Helper()
		cmd := exec.Command(axonBin, "audit", "report", "--fail-unsafe", "--agent", a.Addr)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: $ axon audit report --fail-unsafe --agent %s   (exit %d)\n%s", step, a.Addr, code, out)
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d", step, code, wantCode)
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: report lacks %q", step, w)
			}
		}
		return string(out)
	}
	apply := func(mode, rules string) {
		t.Helper()
		gen := a.Metric("axon_policy_generation", nil)
		writeFile(t, dir, "orders-api.yaml", fmt.Sprintf(flowPolicy, mode, rules))
		a.WaitMetric("axon_policy_generation", nil, 10*time.Second, func(v float64) bool { return v > gen })
		time.Sleep(1100 * time.Millisecond) // the tallies are polled every second
	}

	// 1. Audit: everything passes; the report names what would break.
	for k, v := range traffic() {
		if v != "200" {
			t.Fatalf("audit mode: %s: %s", k, v)
		}
	}
	report("audit", 1, "NOT SAFE TO ENFORCE: 18 requests", "shop/web", "GET     /healthz", "shop/batch", "POST    /api/orders/*")

	// 2. Fix the policy (still Audit), run the traffic again: safe.
	apply("Audit", flowFix)
	traffic()
	report("fixed", 0, "SAFE TO ENFORCE", "18 would-be denials of its earlier versions are left out")

	// 3. Enforce, and watch: nothing is denied; a caller nobody allowed is.
	apply("Enforce", flowFix)
	watch := exec.Command(axonBin, "observe", "--agent", a.Addr, "--verdict", "deny", "-n", "1")
	var seen agentproc.SyncBuffer
	watch.Stdout = &seen
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for k, v := range traffic() {
		if v != "200" {
			t.Errorf("enforced: %s: %s", k, v)
		}
	}
	if got := goOutcome(batch, "DELETE", base+"/api/orders/7"); got != "reset" {
		t.Errorf("enforced: batch DELETE: %s, want reset", got)
	}
	if err := watch.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("enforce: $ axon observe --agent %s --verdict deny\n%s", a.Addr, seen.String())
	if !strings.Contains(seen.String(), "DELETE") || srv.Saw("DELETE") {
		t.Errorf("the DELETE was not denied and watched: server saw it: %v\n%s", srv.Saw("DELETE"), seen.String())
	}
}
