package datapath

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// fixtureLongPaths: default Allow, Deny globs that a long path may leave
// undecided, a prefix rule for the path-length boundary.
const fixtureLongPaths = `
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: long-paths, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 7092}]
  defaultAction: Allow
  rules:
  - action: Deny
    http: [{paths: [{glob: "/api/**"}, {glob: "/s/*/secret/**"}, {glob: "/u/**/x"}]}]
  - action: Deny
    http: [{paths: [{prefix: /never}]}]
`

// padTo returns prefix, then as many 'z' as make n bytes, then suffix.
func padTo(prefix string, n int, suffix string) string {
	return prefix + strings.Repeat("z", n-len(prefix)-len(suffix)) + suffix
}

// TestLongPathsInKernel sends paths around the datapath's two length
// bounds through the TC program: globs see the first table.MaxGlobPath
// bytes (a longer path is decided by a trailing '**', by a dead automaton,
// or else fails closed and is counted glob_undecided), and paths longer
// than table.MaxPath bytes are malformed_request. The reference
// (table.DecideBounded) must agree on every case, and the kernel must do
// what the case says.
func TestLongPathsInKernel(t *testing.T) {
	d := sharedTest(t)
	tab := compileFS(t, map[string]string{"namespaces.yaml": fixtureNamespaces, "pods.yaml": fixturePods, "long.yaml": fixtureLongPaths})
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	curTable = tab
	ep := netip.AddrPortFrom(orders4.Addr(), 7092)
	buf, lim := table.MaxGlobPath, table.MaxPath
	for _, c := range []struct {
		name      string
		path      string
		want      outcome
		reason    string // of the reference decision
		undecided uint64 // glob_undecided counted
	}{
		{"trailing ** matches past the bound", padTo("/api/", buf+200, ""), reset, "", 0},
		{"dead automaton past the bound", padTo("/s/v1/other/", buf+200, ""), passed, "", 0},
		{"live automaton past the bound, matching head", padTo("/s/v1/secret/", buf+200, ""), reset, "", 0},
		{"'/u/**/x' on exactly the bound, matching", padTo("/u/", buf, "/x"), reset, "", 0},
		{"'/u/**/x' on exactly the bound, not matching", padTo("/u/", buf, "/y"), passed, "", 0},
		{"'/u/**/x' one byte past the bound, matching", padTo("/u/", buf+1, "/x"), reset, table.ReasonGlobUndecided, 1},
		{"'/u/**/x' one byte past the bound, not matching: fails closed", padTo("/u/", buf+1, "/y"), reset, table.ReasonGlobUndecided, 1},
		{"no glob can match a long path", padTo("/other/", buf+300, ""), passed, "", 0},
		{"path of exactly the length limit", padTo("/ok/", lim, ""), passed, "", 0},
		{"path one byte over the length limit", padTo("/ok/", lim+1, ""), reset, table.ReasonMalformedRequest, 0},
		{"query past the length limit does not count", padTo("/ok/", lim, "") + "?" + strings.Repeat("q", 100), passed, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := table.Request{Src: web4, Dst: ep, Method: "GET", Target: c.path}
			ref := tab.DecideBounded(req)
			wantAction := table.DecisionAllow
			if c.want == reset {
				wantAction = table.DecisionDeny
			}
			if ref.Action != wantAction || ref.Reason != c.reason {
				t.Fatalf("reference %+v, want %v with reason %q", ref, wantAction, c.reason)
			}
			before := d.reasonCount(t, ReasonGlobUndecided)
			malformed := d.reasonCount(t, ReasonMalformed)
			f := newFlow(t, d.Ingress(), web4, ep)
			defer d.dropFlow(f)
			line := "GET " + c.path + " HTTP/1.1\r\n\r\n"
			got := passed
			for pos := 0; pos < len(line) && got == passed; pos += diffMSS {
				got = f.send(line[pos:min(pos+diffMSS, len(line))])
			}
			if got != c.want {
				t.Fatalf("%d-byte path: %v, want %v", len(c.path), got, c.want)
			}
			if n := d.reasonCount(t, ReasonGlobUndecided) - before; n != c.undecided {
				t.Errorf("glob_undecided +%d, want +%d", n, c.undecided)
			}
			wantMalformed := uint64(0)
			if c.reason == table.ReasonMalformedRequest {
				wantMalformed = 1
			}
			if n := d.reasonCount(t, ReasonMalformed) - malformed; n != wantMalformed {
				t.Errorf("malformed_request +%d, want +%d", n, wantMalformed)
			}
		})
	}
}

// TestIPv6ExtensionHeaderChain: up to AX_IPV6_EXT_MAX (8) extension headers
// are walked to the TCP header, and a request behind them is decided as
// without them; a longer chain is dropped (ip_header), never passed.
func TestIPv6ExtensionHeaderChain(t *testing.T) {
	d := sharedTest(t)
	tab := fixtureTable(t)
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	for n := 0; n <= 9; n++ {
		for _, c := range []struct {
			path string
			want outcome
		}{{"/api/v1/orders", passed}, {"/api/v1/admin", reset}} {
			f := newFlow(t, d.Ingress(), web6, orders6)
			f.ext6 = n
			want := c.want
			if n > 8 {
				want = dropped
			}
			if got := f.send("GET " + c.path + " HTTP/1.1\r\n\r\n"); got != want {
				t.Errorf("%d extension headers, %s: %v, want %v", n, c.path, got, want)
			}
			d.dropFlow(f)
		}
	}
}
