package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
	"github.com/axon-dev/axon/test/netns"
)

// auditCluster: pod shop/api-0 serves on 8080; web-0 (workload web) and
// batch-6f9d8-k2x4q (Deployment batch, through its ReplicaSet) are its
// clients; the probe host is no pod. An HTTPMonitor gives api the route
// template /admin/users/*. The Audit-mode policy would deny /admin (rule
// 0) and DELETE under /api (rule 1).
const auditCluster = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: api-0, namespace: shop, labels: {app: api}}
status: {phase: Running, podIP: %[1]s, podIPs: [{ip: %[1]s}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web, workload: web}}
status: {phase: Running, podIP: %[2]s, podIPs: [{ip: %[2]s}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: batch-6f9d8-k2x4q
  namespace: shop
  labels: {app: batch, pod-template-hash: 6f9d8}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: batch-6f9d8, uid: u2, controller: true}
status: {phase: Running, podIP: %[3]s, podIPs: [{ip: %[3]s}]}
---
apiVersion: axon.dev/v1alpha1
kind: HTTPMonitor
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ports: [{port: 8080}]
  routes: [/admin/users/*]
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: api-lockdown, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ports: [{port: 8080}]
  mode: Audit
  defaultAction: Allow
  rules:
  - action: Deny
    http:
    - paths: [{prefix: /admin}]
  - action: Deny
    http:
    - methods: [DELETE]
      paths: [{prefix: /api}]
`

// auditRow is one row of `axon audit report -o json` as the test compares it.
type auditRow struct {
	Source, Method, Route, Rule string
	Count                       uint64
}

// TestAuditReport runs the real agent with an Audit-mode policy and an
// event rate of 2 per second and CPU, sends a known mix of real requests
// from three sources (curl and Go net/http, fresh and kept-alive
// connections), and checks that `axon audit report` names exactly the
// (source, method, route) pairs that would have been denied with exact
// counts, although most of their events were rate-limited away; that
// every request reached the server (Audit never breaks traffic); and that
// the denied-requests metric sums to the decisions metric.
func TestAuditReport(t *testing.T) {
	netns.RequireRoot(t)
	n := netns.New(t, "10.91.1.0/24")
	api := n.AddHost("api", "10.91.1.10")
	web := n.AddHost("web", "10.91.1.20")
	batch := n.AddHost("batch", "10.91.1.30")
	probe := n.AddHost("probe", "10.91.1.40")
	srv := api.Serve(t, 8080)
	policyDir := t.TempDir()
	writeFile(t, policyDir, "cluster.yaml", fmt.Sprintf(auditCluster, api.Addr, web.Addr, batch.Addr))
	a := agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: policyDir, PinDir: testPinDir(t),
		Ifaces: []string{api.Port}, Args: []string{"--event-rate", "2"}}, 15*time.Second)

	base := "http://" + srv.Addr
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	bad := []string{}
	// goSend sends n requests over one kept-alive connection.
	goSend := func(h *netns.Host, method, path string, n int) {
		wg.Go(func() {
			c := h.HTTPClient(10*time.Second, true)
			for i := range n {
				p := strings.ReplaceAll(path, "{i}", fmt.Sprint(i))
				req, _ := http.NewRequest(method, base+p, nil)
				got := outcome(c.Do(req))
				mu.Lock()
				sent++
				if got != "200" {
					bad = append(bad, fmt.Sprintf("%s %s %s: %s", h.Name, method, p, got))
				}
				mu.Unlock()
			}
		})
	}
	goSend(web, "GET", "/admin/users/{i}", 40)
	goSend(web, "GET", "/admin/users/x{i}", 20)
	goSend(web, "GET", "/api/items", 30)
	goSend(web, "DELETE", "/api/items/{i}", 10)
	goSend(batch, "POST", "/admin/reindex", 25)
	goSend(batch, "GET", "/api/items/7", 5)
	goSend(probe, "GET", "/admin", 12)
	wg.Wait()
	for range 3 { // curl: fresh connections
		if got := curlOutcome(t, probe, base+"/admin"); got != "200" {
			bad = append(bad, "curl probe GET /admin: "+got)
		}
		sent++
	}
	if len(bad) > 0 {
		t.Fatalf("Audit mode broke requests:\n%s", strings.Join(bad, "\n"))
	}
	if got := len(srv.Requests()); got != sent {
		t.Fatalf("server saw %d requests, %d sent", got, sent)
	}

	want := []auditRow{
		{"shop/web", "GET", "/admin/users/*", "0", 60},
		{"shop/batch", "POST", "/admin/reindex", "0", 25},
		{"(outside) " + probe.Addr.String(), "GET", "/admin", "0", 15},
		{"shop/web", "DELETE", "/api/items/*", "1", 10},
	}
	const total = 110
	a.WaitMetric("axon_policy_decisions_total", map[string]string{"policy": "api-lockdown", "decision": "audit_deny"},
		5*time.Second, func(v float64) bool { return v == total })
	events := a.Metric("axon_events_total", map[string]string{"decision": "audit_deny"})
	limited := a.Metric("axon_events_rate_limited_total", nil)
	if events >= total || limited == 0 || events+limited != total {
		t.Errorf("events %v + rate-limited %v, want fewer than %d events and the rest limited", events, limited, total)
	}
	t.Logf("%d would-be denials, %v events sent, %v rate-limited", total, events, limited)

	out, err := exec.Command(axonBin, "audit", "report", "-o", "json", "--agent", a.Addr).CombinedOutput()
	if err != nil {
		t.Fatalf("axon audit report: %v\n%s", err, out)
	}
	var rep struct {
		Policies []struct {
			Namespace, Name, Verdict string
			AuditDenied              uint64 `json:"audit_denied"`
			Denials                  []struct {
				SourceNamespace string   `json:"source_namespace"`
				SourceWorkload  string   `json:"source_workload"`
				SourceIPs       []string `json:"source_ips"`
				Method, Route   string
				Rule            string
				Count           uint64
			}
		}
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if len(rep.Policies) != 1 || rep.Policies[0].Name != "api-lockdown" || rep.Policies[0].Verdict != "unsafe" ||
		rep.Policies[0].AuditDenied != total {
		t.Fatalf("report policies: %s", out)
	}
	var got []auditRow
	for _, d := range rep.Policies[0].Denials {
		src := d.SourceNamespace + "/" + d.SourceWorkload
		if d.SourceWorkload == "" {
			src = "(outside) " + strings.Join(d.SourceIPs, ",")
		}
		got = append(got, auditRow{src, d.Method, d.Route, d.Rule, d.Count})
	}
	sortRows(got)
	sortRows(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit report rows\n got %v\nwant %v", got, want)
	}

	// The table says it plainly; --fail-unsafe makes it an exit code.
	cmd := exec.Command(axonBin, "audit", "report", "--fail-unsafe", "--agent", a.Addr)
	table, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("--fail-unsafe: %v, want exit 1", err)
	}
	for _, s := range []string{"shop/api-lockdown (Audit)", "NOT SAFE TO ENFORCE: 110 requests", "shop/web", "/admin/users/*", "60"} {
		if !strings.Contains(string(table), s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
	t.Logf("axon audit report:\n%s", table)

	// The metric sums to the decisions metric, per rule.
	for _, rule := range []string{"0", "1"} {
		l := map[string]string{"policy": "api-lockdown", "rule": rule, "decision": "audit_deny"}
		if d, s := a.Metric("axon_policy_decisions_total", l), a.Metric("axon_policy_denied_requests_total", l); d != s {
			t.Errorf("rule %s: decisions %v, denied requests %v", rule, d, s)
		}
	}
}

func sortRows(rs []auditRow) {
	sort.Slice(rs, func(i, j int) bool { return fmt.Sprint(rs[i]) < fmt.Sprint(rs[j]) })
}
