package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
	"github.com/axon-dev/axon/test/netns"
)

// tmux drives a private tmux server (its own socket) for one test.
type tmux struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (apt-get install tmux)")
	}
	x := &tmux{t: t, sock: fmt.Sprintf("axon-e2e-%d", time.Now().UnixNano())}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", x.sock, "kill-server").Run() })
	return x
}

func (x *tmux) run(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-L", x.sock}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// start runs a command line in a new 200x50 session.
func (x *tmux) start(name, cmdline string) {
	x.t.Helper()
	if out, err := x.run("new-session", "-d", "-s", name, "-x", "200", "-y", "50", cmdline); err != nil {
		x.t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
}

// capture returns the pane's text; with escapes, its colours too.
func (x *tmux) capture(name string, escapes bool) string {
	x.t.Helper()
	args := []string{"capture-pane", "-p", "-t", name}
	if escapes {
		args = append(args, "-e")
	}
	out, err := x.run(args...)
	if err != nil {
		x.t.Fatalf("tmux capture-pane: %v\n%s", err, out)
	}
	return out
}

// waitFor waits until the pane shows every string of want.
func (x *tmux) waitFor(name string, timeout time.Duration, want ...string) string {
	x.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pane := x.capture(name, false)
		missing := ""
		for _, w := range want {
			if !strings.Contains(pane, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return pane
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("pane %s never showed %q:\n%s", name, missing, pane)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (x *tmux) alive(name string) bool {
	_, err := x.run("has-session", "-t", name)
	return err == nil
}

// TestCLITerminal runs `axon observe` and `axon top` in a real terminal
// (tmux) against a running agent that enforces a deny of /admin in front of
// nginx, with an HTTPMonitor on it: observe shows the denies (red) and the
// served requests with their status as they happen, top redraws its view
// in place and quits on q.
func TestCLITerminal(t *testing.T) {
	netns.RequireRoot(t)
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx not installed (apt-get install nginx)")
	}
	x := newTmux(t)
	n := netns.New(t, "10.91.2.0/24")
	orders := n.AddHost("orders", "10.91.2.10")
	web := n.AddHost("web", "10.91.2.20")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	writeFile(t, dir, "nginx.conf", fmt.Sprintf(observeNginx, dir, orders.Addr))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ng := orders.Command(ctx, nginx, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	ng.Cancel = func() error { return ng.Process.Signal(syscall.SIGTERM) }
	ng.WaitDelay = 5 * time.Second
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ng.Process.Signal(syscall.SIGTERM); ng.Wait() })
	base := fmt.Sprintf("http://%s:8080", orders.Addr)
	for i := 0; curlOutcome(t, web, base+"/api/orders/0") != "200"; i++ {
		if i > 50 {
			t.Fatal("nginx did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	policyDir := t.TempDir()
	writeFile(t, policyDir, "cluster.yaml", fmt.Sprintf(observeCluster, orders.Addr, web.Addr))
	a := agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: policyDir, PinDir: testPinDir(t),
		Ifaces: []string{orders.Port}}, 15*time.Second)
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(a.Logs.String(), "http observer attached"); {
		if time.Now().After(deadline) {
			t.Fatalf("observer never attached; log:\n%s", a.Logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	x.start("observe", axonBin+" observe --agent "+a.Addr)
	x.start("denies", axonBin+" observe --verdict deny --agent "+a.Addr)
	x.waitFor("observe", 5*time.Second, "TIME", "SOURCE", "VERDICT")
	x.waitFor("denies", 5*time.Second, "TIME")
	time.Sleep(300 * time.Millisecond) // the streams are subscribed
	if got := curlOutcome(t, web, base+"/admin/users"); got != "reset" {
		t.Fatalf("GET /admin/users: %s, want reset", got)
	}
	if got := curlOutcome(t, web, base+"/api/orders/42"); got != "200" {
		t.Fatalf("GET /api/orders/42: %s", got)
	}
	if got := curlOutcome(t, web, base+"/legacy/report"); got != "404" {
		t.Fatalf("GET /legacy/report (audit): %s", got)
	}
	pane := x.waitFor("observe", 10*time.Second, "/admin/users", "DENY", "shop/admin-deny rule 0 (Enforce)",
		"/api/orders/42", "AUDIT_DENY", "/legacy/report", "shop/legacy-audit rule 0 (Audit)")
	t.Logf("axon observe:\n%s", strings.TrimRight(pane, "\n"))
	for _, line := range strings.Split(pane, "\n") {
		if strings.Contains(line, "/admin/users") && !(strings.Contains(line, "shop/web-0") && strings.Contains(line, "shop/orders-5f7c9-abcde:8080")) {
			t.Errorf("deny line without source and destination pods: %q", line)
		}
		if strings.Contains(line, "/api/orders/42") && !strings.Contains(line, " 200 ") {
			t.Errorf("request line without its status: %q", line)
		}
	}
	if col := x.capture("observe", true); !strings.Contains(col, "\x1b[31mDENY") {
		t.Errorf("no red DENY on a terminal:\n%q", col)
	}
	den := x.waitFor("denies", 5*time.Second, "/admin/users")
	if strings.Contains(den, "/api/orders/42") || strings.Contains(den, "/legacy/report") {
		t.Errorf("--verdict deny shows other events:\n%s", den)
	}
	// Not a terminal: the same event without colours.
	pipe := exec.Command(axonBin, "observe", "--agent", a.Addr, "-n", "1", "--verdict", "deny")
	var piped agentproc.SyncBuffer
	pipe.Stdout = &piped
	if err := pipe.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	curlOutcome(t, web, base+"/admin/piped")
	if err := pipe.Wait(); err != nil {
		t.Fatalf("axon observe -n 1: %v", err)
	}
	if out := piped.String(); !strings.Contains(out, "/admin/piped") || strings.Contains(out, "\x1b[") {
		t.Errorf("piped observe output: %q", out)
	}

	x.start("top", axonBin+" top --interval 300ms --agent "+a.Addr)
	for range 3 {
		curlOutcome(t, web, base+"/admin/users")
		curlOutcome(t, web, base+"/api/orders/7")
	}
	top := x.waitFor("top", 10*time.Second, "DECISIONS", "shop/admin-deny", "WORKLOADS", "shop/orders",
		"TOP DENIED", "shop/web -> GET /admin/users, shop/admin-deny")
	time.Sleep(time.Second) // a few more refreshes
	top = x.capture("top", false)
	if c := strings.Count(top, "axon top"); c != 1 {
		t.Errorf("%d headers on screen after several refreshes, want 1 (redrawn in place):\n%s", c, top)
	}
	t.Logf("axon top:\n%s", strings.TrimRight(top, "\n"))
	if _, err := x.run("send-keys", "-t", "top", "q"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); x.alive("top"); {
		if time.Now().After(deadline) {
			t.Fatalf("axon top did not quit on q:\n%s", x.capture("top", false))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
