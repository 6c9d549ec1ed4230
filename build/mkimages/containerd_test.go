package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The archives import into a real containerd with `ctr images import`
// under their names, with both platforms, and run there (runc, the empty
// base): the agent's entrypoint prints its usage, the controller (as user
// 65532) its version.
func TestCtrImportAndRun(t *testing.T) {
	paths := built(t)
	need := func(why string) {
		if os.Getenv("CI") == "true" || os.Getenv("AXON_REQUIRE_ROOT") == "1" {
			t.Fatalf("%s, and this run requires every test to run (CI=true or AXON_REQUIRE_ROOT=1)", why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		need("not root: containerd needs root")
	}
	for _, b := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			need(b + " is not installed (make deps installs containerd)")
		}
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	conf := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n[metrics]\n  address = \"\"\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	var dlog strings.Builder
	d.Stdout, d.Stderr = &dlog, &dlog
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = d.Process.Kill()
		_ = d.Wait()
		if t.Failed() {
			t.Logf("containerd log:\n%s", dlog.String())
		}
	}()
	ctr := func(args ...string) (string, error) {
		out, err := exec.Command("ctr", append([]string{"--address", sock, "-n", "axontest"}, args...)...).CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := ctr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range paths {
		if out, err := ctr("images", "import", "--all-platforms", p); err != nil {
			t.Fatalf("ctr images import %s: %v\n%s", filepath.Base(p), err, out)
		}
	}
	ls, err := ctr("images", "ls")
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range Images {
		ref := "ghcr.io/axon-dev/" + im.Name + ":" + version
		found := false
		for _, line := range strings.Split(ls, "\n") {
			if strings.HasPrefix(line, ref+" ") {
				found = true
				if !strings.Contains(line, "linux/amd64,linux/arm64") {
					t.Errorf("%s platforms: %s", ref, line)
				}
			}
		}
		if !found {
			t.Errorf("%s not imported:\n%s", ref, ls)
		}
	}
	if hostMachine() != machine["amd64"] {
		return // runs the amd64 images only on amd64
	}
	out, _ := ctr("run", "--rm", "ghcr.io/axon-dev/axon-agent:"+version, "axon-agent-usage")
	if !strings.Contains(out, "usage: axon-agent") {
		t.Errorf("running the agent image: %q, want its usage", out)
	}
	out, err = ctr("run", "--rm", "ghcr.io/axon-dev/axon-controller:"+version, "axon-controller-version", "/axon-controller", "--version")
	if err != nil || strings.TrimSpace(out) != version {
		t.Errorf("running the controller image: %q %v, want %s", out, err, version)
	}
}
