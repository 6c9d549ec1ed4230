package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axon-dev/axon/dashboards/promql"
	"github.com/axon-dev/axon/test/netns"
	"github.com/axon-dev/axon/test/promserver"
)

// promCluster: shop/orders (Deployment, nginx) is served; shop/web-0
// (monitored client) and shop/batch-0 (a known pod, not monitored) call it.
// One HTTPMonitor selects orders and web; admin-deny (Enforce) denies
// /admin, legacy-audit (Audit) would deny /legacy.
const promCluster = observeCluster + `---
apiVersion: v1
kind: Pod
metadata:
  name: batch-0
  namespace: shop
  labels: {app: batch, workload: batch}
spec: {containers: [{name: main, image: batch}]}
status: {phase: Running, podIP: %[3]s, podIPs: [{ip: %[3]s}]}
`

// TestDashboardsOnPrometheus: Debian's Prometheus scrapes a real agent
// enforcing policies in network namespaces while two source pods send real
// requests (allowed, 5xx, denied, audit_deny) to nginx under an HTTPMonitor.
// Every PromQL expression of the generated dashboards (panels, and the
// variables as Grafana's label_values) and of dashboards/alerts.yaml, read
// from the files, is run through Prometheus's HTTP API with the template
// variables set to the real namespace, workloads, policies and agent: the
// expression (alert thresholds removed) and each of its series selectors
// must return data. A renamed metric or label fails here. Prometheus also
// evaluates alerts.yaml itself: the audit and error-budget alerts go
// pending on this traffic, and no other.
func TestDashboardsOnPrometheus(t *testing.T) {
	netns.RequireRoot(t)
	promserver.Require(t)
	exprs, err := promql.Load("../../dashboards")
	if err != nil {
		t.Fatal(err)
	}
	n := netns.New(t, "10.92.1.0/24")
	orders := n.AddHost("orders", "10.92.1.10")
	web := n.AddHost("web", "10.92.1.20")
	batch := n.AddHost("batch", "10.92.1.30")
	base := startNginx(t, orders, web)

	policyDir := t.TempDir()
	writeFile(t, policyDir, "cluster.yaml", fmt.Sprintf(promCluster, orders.Addr, web.Addr, batch.Addr))
	a := startAgent(t, policyDir, testPinDir(t), orders.Port)
	waitLog(t, a, "http observer attached", 15*time.Second)
	rules, err := filepath.Abs("../../dashboards/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	prom := promserver.Start(t, "axon-agent", []string{a.Addr}, rules)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); sendMix(t, ctx, base, web, batch) }()
	defer func() { stop(); wg.Wait() }()

	// Enough scrapes for rate() over the substituted interval, and the
	// traffic's series in Prometheus.
	prom.Wait(`count_over_time(up{job="axon-agent"}[1m]) >= 12`, 60*time.Second)
	prom.Wait(`axon_policy_decisions_total{decision="audit_deny"}`, 30*time.Second)
	prom.Wait(`http_server_request_body_size_bytes_count{source_workload="web"}`, 30*time.Second)
	prom.Wait(`axon_http_unanswered_requests_total{workload="web"}`, 30*time.Second)

	vars := map[string]string{
		"namespace": "shop", "policy": "admin-deny|legacy-audit", "source": "web|batch",
		"workload": "orders|web", "instance": a.Addr,
		"__rate_interval": "20s", "__interval": "5s", "__range": "5m",
	}
	probes := 0
	for _, e := range exprs {
		q, err := promql.Substitute(e.Query, vars)
		if err != nil {
			t.Errorf("%s: %v", e.Where, err)
			continue
		}
		if e.Kind == promql.Variable {
			probes++
			vals, err := prom.LabelValues(e.Label, q)
			checkData(t, e.Where, "label_values("+q+", "+e.Label+")", len(vals), err)
			continue
		}
		ps, err := promql.Probes(q)
		if err != nil {
			t.Errorf("%s: %v", e.Where, err)
			continue
		}
		for _, p := range ps {
			probes++
			v, err := prom.Query(p)
			checkData(t, e.Where, p, len(v), err)
		}
	}
	t.Logf("%d expressions, %d probes against Prometheus", len(exprs), probes)
	checkMeaning(t, prom)
}

// checkMeaning checks that some queries mean what the dashboards say on
// the known traffic: the variables list the real names, the service graph
// has the two callers' edges, and the alert rules, loaded by Prometheus
// itself, turn pending on the real audit_deny and 5xx traffic only.
func checkMeaning(t *testing.T, prom *promserver.Server) {
	t.Helper()
	for _, c := range []struct{ label, selector, want string }{
		{"namespace", "http_server_request_duration_seconds_count", "shop"},
		{"workload", `http_server_request_duration_seconds_count{namespace="shop"}`, "orders"},
		{"policy", `axon_policy_decisions_total{namespace="shop"}`, "legacy-audit"},
	} {
		vals, err := prom.LabelValues(c.label, c.selector)
		if err != nil || !slices.Contains(vals, c.want) {
			t.Errorf("label_values(%s, %s) = %v (%v), want %s among them", c.selector, c.label, vals, err, c.want)
		}
	}
	edges := map[string]bool{}
	v, err := prom.Query(`label_join(label_join(sum by (source_namespace, source_workload, namespace, workload) (http_server_request_duration_seconds_count{source_workload!=""}), "source", "/", "source_namespace", "source_workload"), "target", "/", "namespace", "workload")`)
	for _, s := range v {
		edges[s.Metric["source"]+" -> "+s.Metric["target"]] = true
	}
	if err != nil || !edges["shop/web -> shop/orders"] || !edges["shop/batch -> shop/orders"] {
		t.Errorf("service graph edges %v (%v), want shop/web and shop/batch -> shop/orders", edges, err)
	}
	alerts := map[string]bool{}
	prom.Wait(`ALERTS{alertname=~"AxonAuditWouldDeny|AxonErrorBudgetBurnFast"}`, 30*time.Second)
	time.Sleep(3 * time.Second) // a few more evaluations
	v, err = prom.Query(`ALERTS`)
	for _, s := range v {
		alerts[s.Metric["alertname"]+" "+s.Metric["policy"]+s.Metric["workload"]] = true
	}
	want := []string{"AxonAuditWouldDeny legacy-audit", "AxonErrorBudgetBurnFast orders", "AxonErrorBudgetBurnSlow orders"}
	for _, w := range want {
		if !alerts[w] {
			t.Errorf("alert %s not pending or firing on the real traffic; ALERTS: %v (%v)", w, alerts, err)
		}
	}
	if len(alerts) != len(want) {
		t.Errorf("ALERTS = %v, want only %v", alerts, want)
	}
}

// checkData fails unless a probe that names no pending metric returned
// data (n > 0); one that names a pending metric must succeed with none.
func checkData(t *testing.T, where, probe string, n int, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %s: %v", where, probe, err)
		return
	}
	if n == 0 {
		t.Errorf("%s: no data for %s", where, probe)
	}
}

// sendMix sends, until ctx ends, rounds of real requests with curl from two
// source pods: allowed GETs and POSTs with a body, a 5xx, requests the
// Enforce policy denies and requests the Audit policy would deny.
func sendMix(t *testing.T, ctx context.Context, base string, web, batch *netns.Host) {
	type req struct {
		from *netns.Host
		args []string
	}
	round := []req{
		{web, []string{base + "/api/orders/1"}},
		{web, []string{"-d", "item=42", base + "/api/orders/2"}},
		{web, []string{base + "/fail"}},
		{web, []string{base + "/admin/users"}},
		{web, []string{base + "/legacy/report"}},
		{batch, []string{base + "/api/orders/3"}},
		{batch, []string{base + "/admin/export"}},
		{batch, []string{base + "/legacy/export"}},
	}
	for ctx.Err() == nil {
		for _, r := range round {
			if _, err := r.from.Curl(ctx, append([]string{"--max-time", "5"}, r.args...)...); err != nil && ctx.Err() == nil {
				t.Errorf("curl: %v", err)
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitLog waits until the agent's log contains s.
func waitLog(t *testing.T, a *agentProc, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(a.Logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the agent log after %v:\n%s", s, timeout, a.Logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
