package datapath

import (
	"fmt"
	"testing"
)

// TestRedteamBody31EndOtherMethods (red team, rev26): ax_body_end refuses a
// body that is the start of one of the nine methods ("DELE", which the next
// request's "TE /x" completes on Python's line), but the first-word rule
// now counts any uppercase word as a method (PURGE, PROPFIND: a handler
// with do_PURGE runs them). A policy that denies PURGE on a path and allows
// other methods there: an allowed POST whose body is "PUR", then
// "GE /api/v1/items HTTP/1.1" (method GE, allowed), is "PURGE
// /api/v1/items" to Python. Each must be refused as "DELE" is.
func TestRedteamBody31EndOtherMethods(t *testing.T) {
	d := sharedTest(t)
	tab := compileFS(t, map[string]string{
		"namespaces.yaml": fixtureNamespaces,
		"pods.yaml":       fixturePods,
		"orders.yaml": `
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: orders-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  mode: Enforce
  defaultAction: Allow
  rules:
  - action: Deny
    http:
    - methods: [PURGE, PROPFIND, MKCOL]
      paths: [{prefix: /api/v1}]
`,
	})
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	// The policy as meant: the methods it denies are reset, others pass.
	for _, req := range []string{"PURGE /api/v1/items HTTP/1.1\r\n\r\n", "PROPFIND /api/v1/items HTTP/1.1\r\n\r\n"} {
		if o := newFlow(t, d.Ingress(), web4, orders4).send(req); o != reset {
			t.Fatalf("%q: %v, want reset", req, o)
		}
	}
	if o := newFlow(t, d.Ingress(), web4, orders4).send("GE /api/v1/items HTTP/1.1\r\n\r\n"); o != passed {
		t.Fatalf("GE: %v, want passed", o)
	}
	for _, c := range []struct{ body, next string }{
		{"PUR", "GE /api/v1/items HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"PROPF", "IND /api/v1/items HTTP/1.1\r\nHost: x\r\n\r\n"},
		{" MK", "COL /api/v1/items HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(c.body+"+"+c.next[:4], func(t *testing.T) {
			head := fmt.Sprintf("POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nContent-Length: %d\r\n\r\n", len(c.body))
			f := newFlow(t, d.Ingress(), web4, orders4)
			if o := f.send(head + c.body + c.next); o != reset {
				t.Errorf("body %q, then %q (Python: %q): %v, want reset", c.body, c.next, c.body+c.next, o)
			}
		})
	}
}
