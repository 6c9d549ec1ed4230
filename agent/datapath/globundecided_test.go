package datapath

import (
	"net/netip"
	"strings"
	"testing"
)

const fixtureLongGlobs = `
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: long-allow, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 7090}]
  defaultAction: Allow
  rules:
  - action: Deny
    http: [{paths: [{prefix: /b}]}]
  - action: Deny
    http: [{paths: [{glob: "/a/*/x"}, {glob: "/b/*/x"}]}]
  - action: Allow
    http: [{paths: [{glob: "/c/*/x"}]}]
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: long-deny, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 7091}]
  defaultAction: Deny
  rules:
  - action: Allow
    http: [{paths: [{glob: "/d/*/x"}]}]
`

// TestGlobUndecidedCountsChangedVerdicts: glob_undecided counts a request
// only when a glob the path was too long for (over 256 bytes) changed its
// verdict by failing closed, not every request that met such a glob.
func TestGlobUndecidedCountsChangedVerdicts(t *testing.T) {
	d := sharedTest(t)
	tab := compileFS(t, map[string]string{"namespaces.yaml": fixtureNamespaces, "pods.yaml": fixturePods, "long.yaml": fixtureLongGlobs})
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	long := "/" + strings.Repeat("z", 300)
	allowEP := netip.AddrPortFrom(orders4.Addr(), 7090)
	denyEP := netip.AddrPortFrom(orders4.Addr(), 7091)
	for _, c := range []struct {
		name      string
		dst       netip.AddrPort
		path      string
		want      outcome
		undecided uint64
	}{
		{"undecided Deny glob denies: counted", allowEP, "/a" + long, reset, 1},
		{"a prefix Deny decides anyway: not counted", allowEP, "/b" + long, reset, 0},
		{"undecided Allow glob, default Allow: not counted", allowEP, "/c" + long, passed, 0},
		{"undecided Allow glob, default Deny: counted", denyEP, "/d" + long, reset, 1},
		{"short path: decided", allowEP, "/a/y/x", reset, 0},
		{"long path no glob can match: not counted", allowEP, "/e" + long, passed, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, err := d.Counters()
			if err != nil {
				t.Fatal(err)
			}
			f := newFlow(t, d.Ingress(), web4, c.dst)
			if got := f.send("GET " + c.path + " HTTP/1.1\r\n\r\n"); got != c.want {
				t.Fatalf("%v, want %v", got, c.want)
			}
			after, err := d.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if n := after.Reasons["glob_undecided"] - before.Reasons["glob_undecided"]; n != c.undecided {
				t.Errorf("glob_undecided +%d, want +%d", n, c.undecided)
			}
		})
	}
}
