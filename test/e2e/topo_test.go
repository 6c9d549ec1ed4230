package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/axon-dev/axon/test/netns"
)

// topo is the e2e topology: namespaces shop (team=shop) and jobs
// (team=jobs); pods shop/orders-0 (app=orders, server on :8080),
// shop/web-0 (app=web) and jobs/batch-0 (app=batch) on one bridge; the test
// process is the bridge address, an external (world) source.
type topo struct {
	net                *netns.Net
	orders, web, batch *netns.Host
	server             *netns.Server
	dir                string // policy directory
	url                string // base URL of the orders server
}

// newTopo builds the topology on 10.85.<n>.0/24 (n unique per test) and
// writes the cluster objects into a fresh policy directory.
func newTopo(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoOn(t, fmt.Sprintf("10.85.%d", n))
}

// newTopoOn builds the topology on sub.0/24 (sub: the first three octets).
func newTopoOn(t *testing.T, sub string) *topo {
	t.Helper()
	netns.RequireRoot(t)
	tp := &topo{net: netns.New(t, sub+".0/24"), dir: t.TempDir()}
	tp.orders = tp.net.AddHost("orders", sub+".10")
	tp.web = tp.net.AddHost("web", sub+".20")
	tp.batch = tp.net.AddHost("batch", sub+".30")
	tp.server = tp.orders.Serve(t, 8080)
	tp.url = "http://" + tp.server.Addr
	writeFile(t, tp.dir, "cluster.yaml", tp.clusterYAML())
	return tp
}

// ports are the interfaces the agent attaches to: the bridge port of the
// orders pod, which every request to orders crosses (on its egress),
// whether it comes from a pod or from the host.
func (tp *topo) ports() []string {
	return []string{tp.orders.Port}
}

func (tp *topo) clusterYAML() string {
	var b strings.Builder
	for _, ns := range []string{"shop", "jobs"} {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    team: %s\n---\n", ns, ns)
	}
	pods := []struct {
		ns, name, app string
		h             *netns.Host
	}{
		{"shop", "orders-0", "orders", tp.orders},
		{"shop", "web-0", "web", tp.web},
		{"jobs", "batch-0", "batch", tp.batch},
	}
	for i, p := range pods {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, `apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels:
    app: %s
spec:
  containers:
  - name: main
    image: example.invalid/app:1
status:
  phase: Running
  podIP: %s
  podIPs:
  - ip: %s
`, p.name, p.ns, p.app, p.h.Addr, p.h.Addr)
	}
	return b.String()
}

// ordersPolicy protects orders:8080 in the given mode: web may GET /api/...,
// nobody may touch /api/admin, everything else is denied by default.
func ordersPolicy(mode string) string {
	return `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata:
  name: orders-api
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: orders
  ports:
  - port: 8080
  mode: ` + mode + `
  defaultAction: Deny
  rules:
  - action: Deny
    http:
    - paths:
      - prefix: /api/admin
  - action: Allow
    from:
    - podSelector:
        matchLabels:
          app: web
    http:
    - methods: [GET]
      paths:
      - prefix: /api
`
}
