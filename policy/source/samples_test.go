package source

import (
	"net/netip"
	"strings"
	"testing"
)

func TestLoadSamples(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"samples.yaml": `- name: web lists orders
  from: web
  to: orders:8080
  request: GET /api/v1/orders
  expect: allow
  policy: shop/orders-api
- from: 10.78.0.99
  to: orders:8080
  request: GET /admin
  expect: deny
`,
		"more/x.samples.yaml": `- from: web
  to: orders:8080
  request: GET
  expect: allow
- from: web
  to: orders:8080
  request: GET /
  expect: allowed
- from: web
  to: orders:8080
  request: GET /
  expect: allow
  expected: deny
`,
		"broken.samples.yaml": "from: web\n",
		"policy.yaml":         "not: read as samples\n",
	})
	samples, problems, err := LoadSamples(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 || samples[0].Title() != "web lists orders" || samples[0].Pos.String() != "samples.yaml:1" ||
		samples[1].Pos.String() != "samples.yaml:7" || samples[1].Title() != `10.78.0.99 -> orders:8080 "GET /admin"` {
		t.Errorf("samples = %+v", samples)
	}
	wants := []string{
		"broken.samples.yaml:1: error: a samples file is a list",
		"more/x.samples.yaml:1: error: sample web -> orders:8080 \"GET\": request \"GET\": want METHOD TARGET",
		"more/x.samples.yaml:5: error: sample web -> orders:8080 \"GET /\": expect is \"allowed\"",
		"more/x.samples.yaml:9: error: unknown sample fields expected",
	}
	if len(problems) != len(wants) {
		t.Fatalf("problems = %v", problems)
	}
	for i, w := range wants {
		if !strings.HasPrefix(problems[i].String(), w) {
			t.Errorf("problem %d = %q, want prefix %q", i, problems[i], w)
		}
	}
}

func TestResolve(t *testing.T) {
	dir := writeDir(t, map[string]string{"c.yaml": cluster + `---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: other, labels: {app: web}}
status: {podIP: 10.78.0.30}
`})
	set, _, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]string{
		"10.1.2.3":        "10.1.2.3",
		"shop/web-0":      "10.78.0.20",
		"other/web-0":     "10.78.0.30",
		"orders-0":        "10.78.0.10",
		"orders":          "10.78.0.10", // app label
		"shop/orders-0:1": "",
	}
	for in, want := range good {
		if want == "" {
			continue
		}
		got, err := set.ResolveAddr(in)
		if err != nil || got != netip.MustParseAddr(want) {
			t.Errorf("ResolveAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"web", "web-0", "nobody", "shop/nobody"} {
		if got, err := set.ResolveAddr(in); err == nil {
			t.Errorf("ResolveAddr(%q) = %v, want an error (ambiguous or unknown)", in, got)
		}
	}
	ap, err := set.ResolveAddrPort("orders:8080")
	if err != nil || ap != netip.MustParseAddrPort("10.78.0.10:8080") {
		t.Errorf("ResolveAddrPort(orders:8080) = %v, %v", ap, err)
	}
	if ap, err := set.ResolveAddrPort("[2001:db8::1]:80"); err != nil || ap.Port() != 80 {
		t.Errorf("ResolveAddrPort(ipv6) = %v, %v", ap, err)
	}
	for _, in := range []string{"orders", "orders:0", "orders:http", "orders:70000"} {
		if _, err := set.ResolveAddrPort(in); err == nil {
			t.Errorf("ResolveAddrPort(%q) succeeded", in)
		}
	}
}
