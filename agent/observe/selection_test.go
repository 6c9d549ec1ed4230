package observe

import (
	"context"
	"net/netip"
	"testing"

	"github.com/axon-dev/axon/test/netns"
)

// TestOnlyMonitoredObserved: the client pod is monitored, the server pod is
// not. The client's requests are counted on the client side only, and the
// kernel sends nothing from the server's namespace (no server series, nothing
// unattributed).
func TestOnlyMonitoredObserved(t *testing.T) {
	netns.RequireRoot(t)
	cli, srv := netns.Pair(t, "10.88.4.0/24", "client", "10.88.4.1", "server", "10.88.4.2")
	addr := netip.AddrPortFrom(srv.Addr, 8080).String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startGoServer(t, ctx, srv, addr)
	o := startObserver(t, []Pod{
		{Namespace: "shop", Workload: "orders", IPs: []netip.Addr{srv.Addr}},
		{Namespace: "shop", Workload: "frontend", IPs: []netip.Addr{cli.Addr}, Monitored: true},
	})
	for range 3 {
		if b, err := cli.Run(ctx, "curl", "-s", "-o", "/dev/null", "http://"+addr+"/ok"); err != nil {
			t.Fatalf("curl: %v: %s", err, b)
		}
	}
	o.waitCounts(t, "http_client_request_duration_seconds", false, map[string]uint64{"GET /ok 200": 3})
	if got := o.counts(t, "http_server_request_duration_seconds", false); len(got) != 0 {
		t.Errorf("server series for a pod no monitor selects: %v", got)
	}
	if v := o.counter(t, "axon_http_observer_unattributed_total", nil); v != 0 {
		t.Errorf("%v exchanges from unmonitored namespaces reached user space", v)
	}
}

// TestMonitorPorts: a monitor's ports limit the server side; client-side
// traffic is observed whatever the port.
func TestMonitorPorts(t *testing.T) {
	c := NewCollector(staticResolver{7: {Namespace: "shop", Name: "orders", Ports: []uint16{8080}}}, nil)
	c.Exchange(Exchange{Side: Server, Netns: 7, Local: netip.MustParseAddrPort("10.0.0.1:8080"), Method: "GET", Path: "/a", Status: 200})
	c.Exchange(Exchange{Side: Server, Netns: 7, Local: netip.MustParseAddrPort("10.0.0.1:9090"), Method: "GET", Path: "/b", Status: 200})
	c.Exchange(Exchange{Side: Client, Netns: 7, Local: netip.MustParseAddrPort("10.0.0.1:40000"), Method: "GET", Path: "/c", Status: 200})
	routes := map[string]bool{}
	for k := range c.series {
		routes[k.side.String()+" "+k.route] = true
	}
	if len(routes) != 2 || !routes["server /a"] || !routes["client /c"] {
		t.Errorf("series: %v, want server /a and client /c", routes)
	}
}

// TestIPv6: the same over IPv6: addresses from the socket's IPv6 fields,
// the peer pod found by its IPv6 address.
func TestIPv6(t *testing.T) {
	netns.RequireRoot(t)
	cli, srv := netns.Pair(t, "fd88:1::/64", "client", "fd88:1::1", "server", "fd88:1::2")
	addr := netip.AddrPortFrom(srv.Addr, 8080).String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startGoServer(t, ctx, srv, addr)
	o := startObserver(t, []Pod{
		{Namespace: "shop", Workload: "orders", IPs: []netip.Addr{srv.Addr}, Monitored: true},
		{Namespace: "shop", Workload: "frontend", IPs: []netip.Addr{cli.Addr}, Monitored: true},
	})
	for _, p := range []string{"/ok", "/missing"} {
		if b, err := cli.Run(ctx, "curl", "-s", "-g", "-o", "/dev/null", "http://"+addr+p); err != nil {
			t.Fatalf("curl: %v: %s", err, b)
		}
	}
	o.waitCounts(t, "http_server_request_duration_seconds", true, map[string]uint64{
		"GET /ok 200 shop/frontend": 1, "GET /missing 404 shop/frontend": 1})
	o.waitCounts(t, "http_client_request_duration_seconds", false, map[string]uint64{"GET /ok 200": 1, "GET /missing 404": 1})
}
