package datapath

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
	"github.com/axon-dev/axon/policy/table"
)

// compileFS compiles a policy directory given as file name -> content with
// policy/source and the real compiler.
func compileFS(t testing.TB, files map[string]string) *table.Table {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	set, problems, err := source.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if errs := problems.Errors(); len(errs) > 0 {
		t.Fatalf("policy fixture: %v", problems.Err())
	}
	tab, err := compiler.Compile(context.Background(), set.Input())
	if err != nil {
		t.Fatalf("compiling fixture: %v", err)
	}
	return tab
}

// The fixture world: servers orders (10.0.0.10, fd00::10), legacy
// (10.0.0.11, audit only); clients web (10.0.1.20, shop), batch
// (10.0.1.30, jobs); everything else is external.
const fixtureNamespaces = `
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: shop, labels: {team: shop}}
- apiVersion: v1
  kind: Namespace
  metadata: {name: jobs, labels: {team: jobs}}
`

const fixturePods = `
apiVersion: v1
kind: Pod
metadata: {name: orders-0, namespace: shop, labels: {app: orders}}
status: {phase: Running, podIP: 10.0.0.10, podIPs: [{ip: 10.0.0.10}, {ip: "fd00::10"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: legacy-0, namespace: shop, labels: {app: legacy}}
status: {phase: Running, podIP: 10.0.0.11, podIPs: [{ip: 10.0.0.11}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
status: {phase: Running, podIP: 10.0.1.20, podIPs: [{ip: 10.0.1.20}, {ip: "fd00::20"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: batch-0, namespace: jobs, labels: {app: batch}}
status: {phase: Running, podIP: 10.0.1.30, podIPs: [{ip: 10.0.1.30}]}
`

// orders: Enforce, default Deny. Rule order within the policy gives the IDs.
const fixtureOrders = `
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: orders-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  mode: Enforce
  defaultAction: Deny
  rules:
  - action: Allow
    from: [{podSelector: {matchLabels: {app: web}}}]
    http:
    - methods: [GET, HEAD]
      paths: [{prefix: /api/v1}]
  - action: Allow
    from: [{podSelector: {matchLabels: {app: web}}}]
    http:
    - methods: [POST]
      paths: [{exact: /api/v1/orders}]
  - action: Allow
    from: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}]
    http:
    - methods: [GET]
      paths: [{prefix: /public}]
  - action: Allow
    http:
    - methods: [GET]
      paths: [{glob: "/static/*.css"}, {glob: "/files/**/index.html"}]
  - action: Allow
    from: [{namespaceSelector: {matchLabels: {team: jobs}}}]
    http:
    - paths: [{prefix: /batch}]
`

// admin: Enforce deny rules over every shop pod, default Allow.
const fixtureAdmin = `
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: admin-deny, namespace: shop}
spec:
  podSelector: {}
  ports: [{port: 8080}]
  defaultAction: Allow
  rules:
  - action: Deny
    http:
    - paths: [{prefix: /api/v1/admin}, {glob: "/api/*/secret/**"}]
`

// legacy: Audit mode only, default Deny.
const fixtureLegacy = `
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: legacy-audit, namespace: shop}
spec:
  podSelector: {matchLabels: {app: legacy}}
  ports: [{port: 9090}]
  mode: Audit
  defaultAction: Deny
  rules:
  - action: Allow
    http:
    - methods: [GET]
      paths: [{prefix: /ok}]
`

func fixtureTable(t testing.TB) *table.Table {
	return compileFS(t, map[string]string{
		"namespaces.yaml": fixtureNamespaces,
		"pods.yaml":       fixturePods,
		"orders.yaml":     fixtureOrders,
		"admin.yaml":      fixtureAdmin,
		"legacy.yaml":     fixtureLegacy,
	})
}
