package observe

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/axon-dev/axon/test/netns"
)

// expected adds a client's plan to the ground truth: "method route status".
func addPlan(want map[string]uint64, method, route string, status int) {
	want[fmt.Sprintf("%s %s %d", method, route, status)]++
}

// statusOf is what the test server answers for a path.
func statusOf(path string) int {
	switch path {
	case "/missing":
		return 404
	case "/fail":
		return 500
	}
	return 200
}

func routeOf(path string) string {
	if len(path) > len("/api/orders/") && path[:len("/api/orders/")] == "/api/orders/" {
		return "/api/orders/*"
	}
	return path
}

// TestGroundTruthGoServer runs a Go net/http server in a monitored pod and
// three real clients in another monitored pod: Go net/http with keep-alive,
// curl (several URLs per run, one connection) and a raw pipelining client.
// Every (method, route, status_code) count of the server and client
// histograms must equal what the clients sent; the 50 ms handler must land
// above the 0.05 s bucket (and within the client's time); server series
// carry the client pod as source. It runs on every set of hooks the kernel
// has.
func TestGroundTruthGoServer(t *testing.T) {
	netns.RequireRoot(t)
	for _, h := range kernelHooks(t) {
		t.Run(string(h), func(t *testing.T) { groundTruthGoServer(t, h) })
	}
}

func groundTruthGoServer(t *testing.T, hooks Hooks) {
	cli, srv := netns.Pair(t, "10.88.1.0/24", "client", "10.88.1.1", "server", "10.88.1.2")
	pods := []Pod{
		{Namespace: "shop", Workload: "orders", IPs: []netip.Addr{srv.Addr}, Monitored: true,
			Routes: NewTemplate([]string{"/api/orders/*"}), MaxRoutes: 100},
		{Namespace: "shop", Workload: "frontend", IPs: []netip.Addr{cli.Addr}, Monitored: true,
			Routes: NewTemplate([]string{"/api/orders/*"})},
	}
	addr := netip.AddrPortFrom(srv.Addr, 8080).String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startGoServer(t, ctx, srv, addr)

	o := startObserverOn(t, pods, hooks)
	want := map[string]uint64{}

	// Go net/http, keep-alive.
	if b, err := helper(ctx, cli, "goclient", "http://"+addr).CombinedOutput(); err != nil {
		t.Fatalf("go client: %v: %s", err, b)
	}
	for _, r := range clientPlan {
		addPlan(want, r.method, routeOf(r.path), statusOf(r.path))
	}
	// curl: several URLs on one connection, twice.
	curlPaths := []string{"/ok", "/missing", "/fail", "/api/orders/abc123def", "/slow"}
	for range 2 {
		args := []string{"-s", "-o", "/dev/null"}
		for _, p := range curlPaths {
			args = append(args, "http://"+addr+p)
			addPlan(want, "GET", routeOf(p), statusOf(p))
		}
		if b, err := cli.Run(ctx, "curl", args...); err != nil {
			t.Fatalf("curl: %v: %s", err, b)
		}
	}
	// Raw pipelining client: every request in one write.
	if b, err := helper(ctx, cli, "pipeline", addr).CombinedOutput(); err != nil {
		t.Fatalf("pipelining client: %v: %s", err, b)
	}
	for _, p := range pipelinePaths {
		addPlan(want, "GET", routeOf(p), statusOf(p))
	}

	// Short reads at the end of bodies, then the next response.
	if b, err := helper(ctx, cli, "shortreads", addr).CombinedOutput(); err != nil {
		t.Fatalf("short-read client: %v: %s", err, b)
	}
	for range shortReadRequests {
		addPlan(want, "GET", "/ok", 200)
	}

	withSource := map[string]uint64{}
	for k, v := range want {
		withSource[k+" shop/frontend"] = v
	}
	o.waitCounts(t, "http_server_request_duration_seconds", true, withSource)
	o.waitCounts(t, "http_client_request_duration_seconds", false, want)

	// The 50 ms handler: no observation at or below 0.05 s (it cannot be
	// faster), all within 1 s, and the server's interval nested in the
	// client's (server sum <= client sum). On an idle machine they land in
	// (0.05, 0.075]; on a loaded one the scheduler may add tens of ms, so
	// the distribution is logged rather than pinned to one bucket.
	var sums [2]float64
	for i, name := range []string{"http_server_request_duration_seconds", "http_client_request_duration_seconds"} {
		hs := o.series(t, name, map[string]string{"route": "/slow"})
		if len(hs) != 1 {
			t.Fatalf("%s: %d /slow series, want 1", name, len(hs))
		}
		sums[i] = hs[0].GetSampleSum()
		var dist []string
		for _, b := range hs[0].Bucket {
			ub, c := b.GetUpperBound(), b.GetCumulativeCount()
			dist = append(dist, fmt.Sprintf("le=%v:%d", ub, c))
			switch {
			case ub <= 0.05 && c != 0:
				t.Errorf("%s /slow: %d observations <= %v s", name, c, ub)
			case ub == 1 && c != hs[0].GetSampleCount() && !testing.Short():
				t.Errorf("%s /slow: %d of %d observations <= 1 s", name, c, hs[0].GetSampleCount())
			}
		}
		t.Logf("%s /slow: %v", name, dist)
	}
	if sums[0] > sums[1] {
		t.Errorf("/slow: server durations (sum %v s) exceed the client's (sum %v s)", sums[0], sums[1])
	}
	// Body sizes from Content-Length: POST "hello world" (11 bytes).
	rq := o.series(t, "http_server_request_body_size_bytes", map[string]string{"method": "POST", "route": "/echo"})
	if len(rq) != 1 || rq[0].GetSampleCount() != 1 || rq[0].GetSampleSum() != 11 {
		t.Errorf("POST /echo request body size: %v", rq)
	}
	if v := o.counter(t, "axon_http_observer_lost_total", nil); v != 0 {
		t.Errorf("losses: %s", o.lossReport(t))
	}
}
