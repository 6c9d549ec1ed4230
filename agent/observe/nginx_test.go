package observe

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// nginxConf serves /ok from a file (sendfile), /missing as a real 404,
// /fail as 500 and /api/orders/ as 200, keep-alive and pipelining on. Every
// path nginx writes is in the test's folder (the kernel matrix's guests have
// no /var/lib/nginx).
const nginxConf = `daemon off;
master_process on;
worker_processes 2;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	sendfile on;
	server {
		listen %[2]s;
		root %[1]s/www;
		location = /fail { return 500; }
		location /api/orders/ { return 200 "api\n"; }
	}
}
`

// TestGroundTruthNginx runs Debian's nginx in a monitored pod and real
// clients (Go keep-alive, curl, raw pipelining) in a monitored client pod:
// server and client histogram counts must equal what the clients sent.
func TestGroundTruthNginx(t *testing.T) {
	netns.RequireRoot(t)
	cli, srv := netns.Pair(t, "10.88.2.0/24", "client", "10.88.2.1", "server", "10.88.2.2")
	addr := netip.AddrPortFrom(srv.Addr, 8080).String()
	dir := netns.StartNginx(t, srv, nginxConf, addr)
	os.MkdirAll(filepath.Join(dir, "www"), 0o755)
	os.WriteFile(filepath.Join(dir, "www", "ok"), []byte("ok from nginx\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Wait until it answers (from the client pod, before the observer).
	for i := 0; ; i++ {
		r, err := cli.Curl(ctx, "http://"+addr+"/ok")
		if err == nil && r.Status == 200 {
			break
		}
		if i > 50 {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %v %+v %s", err, r, b)
		}
		time.Sleep(100 * time.Millisecond)
	}

	pods := []Pod{
		{Namespace: "web", Workload: "nginx", IPs: []netip.Addr{srv.Addr}, Monitored: true,
			Routes: NewTemplate([]string{"/api/orders/*"})},
		{Namespace: "web", Workload: "client", IPs: []netip.Addr{cli.Addr}, Monitored: true,
			Routes: NewTemplate([]string{"/api/orders/*"})},
	}
	o := startObserver(t, pods)
	nginxStatus := func(p string) int {
		switch p {
		case "/missing":
			return 404
		case "/fail":
			return 500
		}
		return 200
	}
	want := map[string]uint64{}
	if b, err := helper(ctx, cli, "goclient-nginx", "http://"+addr).CombinedOutput(); err != nil {
		t.Fatalf("go client: %v: %s", err, b)
	}
	for _, r := range nginxPlan {
		addPlan(want, r.method, routeOf(r.path), nginxStatus(r.path))
	}
	curlPaths := []string{"/ok", "/missing", "/fail", "/api/orders/77", "/ok"}
	args := []string{"-s", "-o", "/dev/null"}
	for _, p := range curlPaths {
		args = append(args, "http://"+addr+p)
		addPlan(want, "GET", routeOf(p), nginxStatus(p))
	}
	if b, err := cli.Run(ctx, "curl", args...); err != nil {
		t.Fatalf("curl: %v: %s", err, b)
	}
	if b, err := helper(ctx, cli, "pipeline-nginx", addr).CombinedOutput(); err != nil {
		t.Fatalf("pipelining client: %v: %s", err, b)
	}
	for _, p := range nginxPipelinePaths {
		addPlan(want, "GET", routeOf(p), nginxStatus(p))
	}
	withSource := map[string]uint64{}
	for k, v := range want {
		withSource[k+" web/client"] = v
	}
	o.waitCounts(t, "http_server_request_duration_seconds", true, withSource)
	o.waitCounts(t, "http_client_request_duration_seconds", false, want)
	if v := o.counter(t, "axon_http_observer_lost_total", nil); v != 0 {
		t.Errorf("losses: %s", o.lossReport(t))
	}
}
