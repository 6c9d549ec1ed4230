package observe

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollapse(t *testing.T) {
	for in, want := range map[string]string{
		"/":                  "/",
		"/healthz":           "/healthz",
		"/users/42":          "/users/*",
		"/users/42/orders/7": "/users/*/orders/*",
		"/o/123e4567-e89b-12d3-a456-426614174000": "/o/*",
		"/o/123e4567-e89b-12d3-a456-42661417400z": "/o/123e4567-e89b-12d3-a456-42661417400z",
		"/blob/deadbeef01":                        "/blob/*",
		"/blob/deadbeef":                          "/blob/deadbeef", // no digit: a word
		"/blob/abc1":                              "/blob/abc1",     // under 8 hex digits
		"/v1/items":                               "/v1/items",
	} {
		if got := Collapse(in); got != want {
			t.Errorf("Collapse(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTemplateMatch(t *testing.T) {
	tp := NewTemplate([]string{"/api/orders/*", "/api/orders/*/items", "/healthz"})
	for in, want := range map[string]string{
		"/api/orders/9":        "/api/orders/*",
		"/api/orders/x/items":  "/api/orders/*/items",
		"/healthz":             "/healthz",
		"/api/orders/":         "",
		"/api/orders/9/other":  "",
		"/api/orders/9/items/": "",
	} {
		got, _ := tp.Match(in)
		if got != want {
			t.Errorf("Match(%q) = %q, want %q", in, got, want)
		}
	}
}

type staticResolver map[uint32]Workload

func (s staticResolver) ByNetns(i uint32) (Workload, bool)      { w, ok := s[i]; return w, ok }
func (s staticResolver) ByIP(netip.Addr) (string, string, bool) { return "", "", false }

// TestCardinality sends 10,000 distinct ids through the collector: ids the
// heuristic knows collapse to one route; words it does not know fill the
// workload's cap and the rest goes to route="other": at most maxRoutes+1
// route values either way.
func TestCardinality(t *testing.T) {
	const maxRoutes = 20
	c := NewCollector(staticResolver{7: {Namespace: "shop", Name: "orders", MaxRoutes: maxRoutes}}, nil)
	for i := range 10000 {
		c.Exchange(Exchange{Side: Server, Netns: 7, Method: "GET", Path: fmt.Sprintf("/items/%d", i), Status: 200})
		c.Exchange(Exchange{Side: Server, Netns: 7, Method: "GET", Path: fmt.Sprintf("/users/user-%d", i), Status: 200})
		c.Exchange(Exchange{Side: Server, Netns: 7, Method: "GET", Path: fmt.Sprintf("/docs/%x-%d", i, i), Status: 200})
	}
	routes := map[string]uint64{}
	for k, s := range c.series {
		routes[k.route] += s.dur.n
	}
	if len(routes) > maxRoutes+1 {
		t.Fatalf("%d route values, want at most %d", len(routes), maxRoutes+1)
	}
	if routes["/items/*"] != 10000 {
		t.Errorf("/items/* counted %d, want 10000", routes["/items/*"])
	}
	var total uint64
	for _, n := range routes {
		total += n
	}
	if total != 30000 || routes[RouteOther] == 0 {
		t.Errorf("total %d (want 30000), other %d", total, routes[RouteOther])
	}
	t.Logf("%d route values for 30000 requests; other=%d", len(routes), routes[RouteOther])
}

// TestExpiry: series and route slots unused for the expiry period go.
func TestExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	c := NewCollector(staticResolver{7: {Namespace: "shop", Name: "orders", MaxRoutes: 1}}, nil)
	c.now = func() time.Time { return now }
	c.Exchange(Exchange{Side: Server, Netns: 7, Method: "GET", Path: "/a", Status: 200})
	c.Exchange(Exchange{Side: Server, Netns: 7, Method: "GET", Path: "/b", Status: 200}) // over the cap
	now = now.Add(DefaultExpiry + time.Second)
	ch := make(chan prometheusMetric, 100)
	collectAll(c, ch)
	if len(c.series) != 0 {
		t.Fatalf("%d series left after expiry", len(c.series))
	}
	c.Exchange(Exchange{Side: Server, Netns: 7, Method: "GET", Path: "/b", Status: 200})
	for k := range c.series {
		if k.route != "/b" {
			t.Errorf("route %q after expiry freed the slot, want /b", k.route)
		}
	}
}

// TestHostilePath: bytes that are no UTF-8 in a path become a valid label
// value, and the scrape does not fail.
func TestHostilePath(t *testing.T) {
	c := NewCollector(staticResolver{7: {Namespace: "shop", Name: "orders"}}, nil)
	c.Exchange(Exchange{Side: Server, Netns: 7, Method: "GET", Path: "/a\xff\xfe/\x00b", Status: 200})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

// TestRoutesMatchSplitReference checks Collapse and Template.Match, which
// walk the path in place, against the plain definition on the path's
// "/"-separated segments, over random paths made of ids, words and empty
// segments.
func TestRoutesMatchSplitReference(t *testing.T) {
	collapse := func(p string) string {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			if isID(s) {
				segs[i] = "*"
			}
		}
		return strings.Join(segs, "/")
	}
	globs := []string{"/api/orders/*", "/api/orders/*/items", "/healthz", "/*", "*/x", "/api/*/*/"}
	match := func(p string) (string, bool) {
		segs := strings.Split(p, "/")
	outer:
		for _, r := range globs {
			g := strings.Split(r, "/")
			if len(g) != len(segs) {
				continue
			}
			for j, s := range g {
				if s == "*" && segs[j] == "" || s != "*" && s != segs[j] {
					continue outer
				}
			}
			return r, true
		}
		return "", false
	}
	tmpl := NewTemplate(globs)
	parts := []string{"", "api", "orders", "items", "healthz", "x", "42", "deadbeef01", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "abc", "ABCDEF12"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		n := rng.IntN(6)
		var b strings.Builder
		if rng.IntN(4) > 0 {
			b.WriteByte('/')
		}
		for i := range n {
			if i > 0 {
				b.WriteByte('/')
			}
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		p := b.String()
		if got, want := Collapse(p), collapse(p); got != want {
			t.Fatalf("Collapse(%q) = %q, want %q", p, got, want)
		}
		gr, gok := tmpl.Match(p)
		wr, wok := match(p)
		if gr != wr || gok != wok {
			t.Fatalf("Match(%q) = %q %v, want %q %v", p, gr, gok, wr, wok)
		}
	}
}
