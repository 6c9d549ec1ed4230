package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// observeNginx serves /api/orders/ (200), /admin (200), /fail (500) on
// port 8080; anything else is nginx's 404.
const observeNginx = `daemon off;
master_process on;
worker_processes 1;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
	access_log %[1]s/access.log;
	server {
		listen %[2]s:8080;
		location /api/orders/ { return 200 "order\n"; }
		location /admin { return 200 "admin\n"; }
		location /fail { return 500; }
	}
}
`

// startNginx runs nginx (observeNginx) in host h until cleanup, waits until
// client answers 200 through it, and returns its base URL. Without nginx
// the test skips, or fails where every test must run (CI=true,
// AXON_REQUIRE_ROOT=1; `make deps` installs it).
func startNginx(t *testing.T, h, client *netns.Host) string {
	t.Helper()
	netns.StartNginx(t, h, observeNginx, h.Addr.String())
	base := fmt.Sprintf("http://%s:8080", h.Addr)
	for i := 0; curlOutcome(t, client, base+"/api/orders/0") != "200"; i++ {
		if i > 50 {
			t.Fatal("nginx did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return base
}
