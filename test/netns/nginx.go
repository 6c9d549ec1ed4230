package netns

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// StartNginx runs Debian's nginx in host h until the test ends, with conf
// as its configuration: a format whose %[1]s is a fresh folder (for its
// pid, logs and any files to serve; returned) and %[2]s is listen. Without
// nginx the test skips, or fails where every test must run (CI=true,
// AXON_REQUIRE_ROOT=1; `make deps` installs it). The caller waits until it
// answers.
func StartNginx(t *testing.T, h *Host, conf, listen string) (dir string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("AXON_REQUIRE_ROOT") == "1" {
			t.Fatal("nginx not installed (make deps, or apt-get install nginx)")
		}
		t.Skip("nginx not installed (apt-get install nginx)")
	}
	dir = t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // nginx workers run as root, but keep it readable
		t.Fatal(err)
	}
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(conf, dir, listen)), 0o644); err != nil {
		t.Fatal(err)
	}
	ng := h.Command(context.Background(), bin, "-c", file, "-e", filepath.Join(dir, "error.log"))
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	// Stop nginx with SIGTERM (fast shutdown: the master ends its
	// workers); SIGKILL would orphan the workers.
	t.Cleanup(func() { ng.Process.Signal(syscall.SIGTERM); ng.Wait() })
	return dir
}
