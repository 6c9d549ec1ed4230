package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
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
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("AXON_REQUIRE_ROOT") == "1" {
			t.Fatal("nginx not installed (make deps, or apt-get install nginx)")
		}
		t.Skip("nginx not installed (apt-get install nginx)")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	conf := filepath.Join(dir, "nginx.conf")
	writeFile(t, dir, "nginx.conf", fmt.Sprintf(observeNginx, dir, h.Addr))
	ng := h.Command(context.Background(), nginx, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	// Stop nginx with SIGTERM (fast shutdown: the master ends its
	// workers); SIGKILL would orphan the workers.
	t.Cleanup(func() { ng.Process.Signal(syscall.SIGTERM); ng.Wait() })
	base := fmt.Sprintf("http://%s:8080", h.Addr)
	for i := 0; curlOutcome(t, client, base+"/api/orders/0") != "200"; i++ {
		if i > 50 {
			t.Fatal("nginx did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return base
}
