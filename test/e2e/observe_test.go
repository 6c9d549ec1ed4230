package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// observeCluster: pod shop/orders-5f7c9-abcde of Deployment orders (through
// its ReplicaSet) runs nginx; shop/web-0 (workload label "web") is its
// client. One HTTPMonitor selects both; an Enforce policy denies /admin, an
// Audit policy would deny /legacy.
const observeCluster = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata:
  name: orders-5f7c9-abcde
  namespace: shop
  labels: {app: orders, pod-template-hash: 5f7c9}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: orders-5f7c9, uid: u1, controller: true}
spec: {containers: [{name: main, image: nginx}]}
status: {phase: Running, podIP: %[1]s, podIPs: [{ip: %[1]s}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: shop
  labels: {app: web, workload: web}
spec: {containers: [{name: main, image: web}]}
status: {phase: Running, podIP: %[2]s, podIPs: [{ip: %[2]s}]}
---
apiVersion: axon.dev/v1alpha1
kind: HTTPMonitor
metadata: {name: shop, namespace: shop}
spec:
  podSelector:
    matchExpressions: [{key: app, operator: In, values: [orders, web]}]
  ports: [{port: 8080}]
  routes: [/api/orders/*]
  maxRoutes: 10
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: admin-deny, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  defaultAction: Allow
  rules:
  - action: Deny
    http:
    - paths: [{prefix: /admin}]
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: legacy-audit, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  mode: Audit
  defaultAction: Allow
  rules:
  - action: Deny
    http:
    - paths: [{prefix: /legacy}]
`

// TestObserveAgent runs the real agent on a policy folder with an
// HTTPMonitor, real nginx in the orders pod and curl in the web pod, and
// reads the agent's /metrics: RED series per workload and route with the
// client pod as source, client-side series of the monitored web pod,
// requests the policy denied not counted as served (their client side is
// counted as unanswered), requests passed in Audit mode counted, and
// `promtool check metrics` accepts the page.
func TestObserveAgent(t *testing.T) {
	netns.RequireRoot(t)
	n := netns.New(t, "10.88.3.0/24")
	orders := n.AddHost("orders", "10.88.3.10")
	web := n.AddHost("web", "10.88.3.20")
	base := startNginx(t, orders, web)

	policyDir := t.TempDir()
	writeFile(t, policyDir, "cluster.yaml", fmt.Sprintf(observeCluster, orders.Addr, web.Addr))
	a := startAgent(t, policyDir, testPinDir(t), orders.Port)
	// The observer attached, and the policy applied: before it, the
	// client pod's address names no workload (the series would have no
	// source), and the datapath is not in front yet.
	deadline := time.Now().Add(15 * time.Second)
	for logs := a.Logs.String(); !strings.Contains(logs, "http observer attached") ||
		!strings.Contains(logs, `msg="policy applied"`) || !strings.Contains(logs, "msg=attached"); logs = a.Logs.String() {
		if time.Now().After(deadline) {
			t.Fatalf("observer, policy or programs never in place; log:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	for i := range 3 {
		if got := curlOutcome(t, web, fmt.Sprintf("%s/api/orders/%d", base, 100+i)); got != "200" {
			t.Fatalf("GET /api/orders/%d: %s", 100+i, got)
		}
	}
	if got := curlOutcome(t, web, base+"/fail"); got != "500" {
		t.Fatalf("GET /fail: %s", got)
	}
	for range 2 {
		if got := curlOutcome(t, web, base+"/admin/users"); got == "200" {
			t.Fatalf("GET /admin/users was not denied")
		}
	}
	// Audit mode: passes (nginx has no /legacy: 404), counted as served.
	if got := curlOutcome(t, web, base+"/legacy/report"); got != "404" {
		t.Fatalf("GET /legacy/report (audit): %s", got)
	}

	srv := map[string]string{"namespace": "shop", "workload": "orders", "method": "GET",
		"source_namespace": "shop", "source_workload": "web"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	eq := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	waitHistCount(t, a, "http_server_request_duration_seconds", with(srv, "route", "/api/orders/*", "status_code", "200"), 3)
	waitHistCount(t, a, "http_server_request_duration_seconds", with(srv, "route", "/fail", "status_code", "500"), 1)
	waitHistCount(t, a, "http_server_request_duration_seconds", with(srv, "route", "/legacy/report", "status_code", "404"), 1)
	a.WaitMetric("axon_policy_decisions_total", map[string]string{"policy": "legacy-audit", "decision": "audit_deny"}, 5*time.Second, eq(1))
	cli := map[string]string{"namespace": "shop", "workload": "web", "method": "GET"}
	waitHistCount(t, a, "http_client_request_duration_seconds", with(cli, "route", "/api/orders/*", "status_code", "200"), 3)
	// Denied: reset before nginx read it, so never served; the client
	// wrote it and got no response.
	a.WaitMetric("axon_http_unanswered_requests_total", map[string]string{"namespace": "shop", "workload": "web", "side": "client"}, 5*time.Second, eq(2))
	_, page, err := a.Get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	// Served requests only: axon_policy_denied_requests_total counts the
	// denied ones, the RED series must not.
	for _, l := range strings.Split(grepLines(page, `route="/admin`), "\n") {
		if strings.HasPrefix(l, "http_") {
			t.Errorf("a denied request is counted as served: %s", l)
		}
	}

	// promtool check metrics, from the pinned Prometheus module.
	cmd := exec.Command("../../scripts/promtool.sh", "check", "metrics")
	cmd.Stdin = strings.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	} else {
		t.Logf("promtool check metrics: ok %s", bytes.TrimSpace(out))
	}
}

// waitHistCount waits until the _count of the histogram series with labels
// is want, for 5 s.
func waitHistCount(t *testing.T, a *agentProc, name string, labels map[string]string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var got uint64
	var body string
	for {
		got = 0
		code, page, err := a.Get("/metrics")
		if err == nil && code == 200 {
			body = page
			tp := expfmt.NewTextParser(model.UTF8Validation)
			fams, err := tp.TextToMetricFamilies(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
		next:
			for _, m := range fams[name].GetMetric() {
				have := map[string]string{}
				for _, lp := range m.GetLabel() {
					have[lp.GetName()] = lp.GetValue()
				}
				for k, v := range labels {
					if have[k] != v {
						continue next
					}
				}
				got += m.GetHistogram().GetSampleCount()
			}
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v: count %d, want %d; the page's _count series:\n%s", name, labels, got, want, grepLines(body, "_count"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
