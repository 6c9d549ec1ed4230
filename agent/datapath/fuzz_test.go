package datapath

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// fuzzGlobs adds glob rules (with ** over long paths) on the fixture's
// orders endpoint.
const fuzzGlobs = `
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: globs, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  defaultAction: Deny
  rules:
  - action: Allow
    http:
    - paths: [{glob: "/g/**/x"}, {glob: "/g/*/y*"}, {glob: "/long/**/end"}]
  - action: Deny
    http:
    - methods: [DELETE]
      paths: [{glob: "/g/**"}]
`

var (
	fuzzSources = []netip.Addr{
		netip.MustParseAddr("10.0.1.20"), netip.MustParseAddr("fd00::20"), netip.MustParseAddr("10.0.1.30"),
		netip.MustParseAddr("192.168.1.5"), netip.MustParseAddr("192.168.2.2"), netip.MustParseAddr("8.8.8.8"),
		netip.MustParseAddr("2001:db8::1"),
	}
	fuzzServers = []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.10:8080"), netip.MustParseAddrPort("[fd00::10]:8080"),
		netip.MustParseAddrPort("10.0.0.11:9090"), netip.MustParseAddrPort("10.0.0.12:80"),
	}
)

// FuzzRequestSegments sends a request line built from the fuzzer's method
// and target through the TC program, cut into segments at boundaries drawn
// from seed, and asks the reference evaluator (table.Table.DecideBounded) about
// it: the segment at which the program resets (or that none is reset) and
// the counted (rule, verdict) must agree.
func FuzzRequestSegments(f *testing.F) {
	for _, s := range []struct {
		method, target string
		seed           uint64
		src, dst       uint8
	}{
		{"GET", "/api/v1/orders", 1, 0, 0},
		{"POST", "/api/v1/orders", 2, 1, 1},
		{"GET", "/api/v1/admin/x", 3, 0, 0},
		{"GET", "/api/v1/../v1/admin", 4, 0, 0},
		{"GET", "/api/%2e%2e/admin", 5, 0, 1},
		{"GET", "/static/a.css", 6, 5, 0},
		{"GET", "/files/a/b/c/index.html", 7, 6, 1},
		{"DELETE", "/g/a/b/x", 8, 2, 0},
		{"GET", "/g/a/b/c/x", 9, 2, 0},
		{"GET", "/long/" + strings.Repeat("seg/", 80) + "end", 10, 0, 0},
		{"GET", "/long/" + strings.Repeat("a", 4090), 11, 0, 0},
		{"G@T", "/x", 12, 0, 0},
		{strings.Repeat("M", table.MaxMethod+1), "/x", 13, 0, 0},
		{"GET", "http://host:80/public/x", 14, 4, 0},
		{"GET", "/ok", 15, 0, 2},
		{"GET", "/nok", 16, 0, 2},
		{"get", "/api/v1", 17, 0, 0},
		{"GET", "*", 18, 0, 0},
		{"GET", "/batch\x7f", 19, 2, 0},
		{"GET", "/batch;x", 20, 2, 0},
		{"CONNECT", "orders:443", 21, 0, 0},
		{"CONNECT", "orders:443", 22, 0, 2},
		{"CONNECT", "http://host:80/public/x", 23, 4, 0},
		{"CONNECT", "HTTPS://host/public/x", 24, 4, 0},
		{"CONNECT", "/public/x", 25, 4, 0},
		{"CONNECT", "hxx/public/x", 26, 4, 0},
		{"CONNECT", "http://h/" + strings.Repeat("a", 5000), 27, 4, 0},
		{"CONNEC", "http://host:80/public/x", 28, 4, 0},
	} {
		f.Add(s.method, s.target, s.seed, s.src, s.dst)
	}
	d := sharedTest(f)
	files := map[string]string{
		"namespaces.yaml": fixtureNamespaces, "pods.yaml": fixturePods, "orders.yaml": fixtureOrders,
		"admin.yaml": fixtureAdmin, "legacy.yaml": fixtureLegacy, "globs.yaml": fuzzGlobs,
	}
	tab := compileFS(f, files)
	applied := false
	f.Fuzz(func(t *testing.T, method, target string, seed uint64, srcIdx, dstIdx uint8) {
		// A space, tab, CR or LF ends the method or target (the datapath
		// splits the request line on runs of SP and HTAB, RFC 9112 3):
		// the line would have other fields than the ones the reference
		// is asked about.
		if method == "" || target == "" || strings.ContainsAny(method, " \t\r\n") ||
			strings.ContainsAny(target, " \t\r\n") || len(method)+len(target) > 6000 {
			return
		}
		if !applied {
			// Tests sharing the datapath may have applied other tables.
			if err := d.Apply(tab); err != nil {
				t.Fatal(err)
			}
			applied = true
		}
		curTable = tab
		src := fuzzSources[int(srcIdx)%len(fuzzSources)]
		dst := fuzzServers[int(dstIdx)%len(fuzzServers)]
		if src.Is4() != dst.Addr().Is4() {
			dst = netip.AddrPortFrom(netip.MustParseAddr("fd00::10"), 8080)
			if src.Is4() {
				dst = fuzzServers[0]
			}
		}
		req := table.Request{Src: src, Dst: dst, Method: method, Target: target}
		ref := tab.DecideBounded(req)
		fl := newFlow(t, d.Ingress(), src, dst)
		defer d.dropFlow(fl)
		if src.Is6() {
			fl.ext6 = int(seed % 9) // extension headers the datapath walks
		}
		r := rand.New(rand.NewPCG(seed, seed>>32))
		undecided := d.reasonCount(t, ReasonGlobUndecided)
		if !diffRequest(t, d, fl, r, req, ref) {
			t.Fatalf("method %q target %q (%d bytes)", method, target, len(target))
		}
		want := undecided
		if ref.Reason == table.ReasonGlobUndecided {
			want++
		}
		if got := d.reasonCount(t, ReasonGlobUndecided); got != want {
			t.Fatalf("method %q target %q (%d bytes): glob_undecided %d -> %d, want %d (reference %+v)",
				method, target, len(target), undecided, got, want, ref)
		}
	})
}

// reasonCount reads one reason counter.
func (d *Datapath) reasonCount(t testing.TB, r Reason) uint64 {
	var per []uint64
	if err := d.objs.ReasonStats.Lookup(uint32(r), &per); err != nil {
		t.Fatal(err)
	}
	return sum(per)
}

// dropFlow deletes a test flow's state, if any is left.
func (d *Datapath) dropFlow(f *flow) {
	k := flowKey(f)
	_ = d.objs.Flows.Delete(&k)
}
