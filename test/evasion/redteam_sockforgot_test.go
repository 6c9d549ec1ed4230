package evasion

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRedteamServerSockForgottenNsPath (rule 2, red team rt39): the rt38
// fix (91c0da5) reads a pod namespace's net.ipv4.tcp_fastopen again on every
// attachment check, but only through the path the namespace was found at
// when its interface was recorded (attach.FastOpenServers, nsPaths). When
// that path once fails to name the namespace (stat fails or another inode:
// a /proc/<pid>/ns/net of a process that exited, which is how the agent
// finds namespaces not named under /run/netns, e.g. Docker's
// /var/run/docker/netns; or a /run/netns name that is briefly unmounted),
// nsPaths.lookup forgot the id for good, and FastOpenServers silently
// left the pod out on every later check. The interface entry keeps the
// fastopen value of the last recording until the node's veths change or a
// policy with other pod IPs is applied. A pod that turns server fast open
// on after that was never seen to have done so, and the rt38 attack (the
// rt37 device-bound listener attack) ran again on the Go server. Closed in
// the same session: a namespace the refresh cannot reopen counts as letting
// servers take fast-open data (the strict answer) until a scan of the
// node's namespaces, at most every 10 s, finds it again.
//
// Steps: as TestRedteamServerSockStaleFastOpen, except that after the pod
// interface was recorded the /run/netns name of the pod's namespace is
// unmounted for 2.5 s (the namespace lives on: a sleep holds it) and bound
// back to the same namespace (same inode); then sysctl -w
// net.ipv4.tcp_fastopen=0x403 in the pod, wait 2.5 s (several checks),
// start the servers, plant the bad-checksum SYN records, unpolice by a
// policy with the same pods (ports: [9]), send the fast-open SYNs with the
// denied head, restore the policy, end the head after the resent SYN-ACK.
//
// Controls: an allowed request passes on nginx and Python; the same attack
// on nginx and Python (unbound, their children found holding bytes) is
// refused; the contrast at the end re-records the interface (a pod-IP
// change) and the bound server's connection is refused again.
func TestRedteamServerSockForgottenNsPath(t *testing.T) {
	t.Parallel()
	forgottenNsPath(t, 1, false)
}

// TestRedteamServerSockExitedNsProcess is TestRedteamServerSockForgottenNsPath
// with the pod's namespace not named under /run/netns when the agent records
// the pod interface (as Docker's /var/run/docker/netns/<id>, which the agent
// does not scan): the agent finds it as /proc/<pid>/ns/net of the first
// process in it (in the glob's lexicographic order). That process exits
// (here one of two sleeps in the pod: the one the agent found); the other
// keeps the namespace. The agent forgets the path and never reads the
// pod's tcp_fastopen again. (The /run/netns name is bound back afterwards
// only so that the harness can run commands in the pod; the agent's cache
// entry is gone by then.)
func TestRedteamServerSockExitedNsProcess(t *testing.T) {
	t.Parallel()
	forgottenNsPath(t, 2, true)
}

func forgottenNsPath(t *testing.T, n int, unnamed bool) {
	tp := newTopoIn(t, "10.72", "fd72", n)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=1")
	tp.policy("Enforce", "")
	var restore func()
	if unnamed {
		restore = unnameNs(t, tp)
	}
	a := tp.startAgent()
	waitGeneration(t, a, 1, 10*time.Second)
	// The pod interface is recorded by now, and again by keepAttached's
	// first round (its first veth check reports a change); then the pod
	// turns server fast open on.
	time.Sleep(2500 * time.Millisecond)
	// The path the agent found the pod's namespace at stops naming it for
	// a moment (a /proc/<pid>/ns/net of a process that exits, or a name
	// under /run/netns that goes and comes back): one attachment check
	// sees nothing there and forgets the path for good. The namespace is
	// unchanged (held by a process of the pod) and so are the node's veths.
	if unnamed {
		restore()
	} else {
		forgetNsPath(t, tp)
	}
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	// Several attachment checks pass: none reads the new value.
	time.Sleep(2500 * time.Millisecond)
	t.Logf("pod tcp_fastopen now %s", tp.run(tp.srv, "sysctl", "-n", "net.ipv4.tcp_fastopen"))
	fastOpenTurnedOn(t, tp, a, "forgot", "a device-bound server of a pod that turned server fast open on after the agent lost the path of its namespace")
}

// forgetNsPath unmounts the /run/netns name of the server's namespace for
// long enough for the agent's attachment checks to find nothing there, then
// binds the same namespace (held by a sleep in it) to the same name.
func forgetNsPath(t *testing.T, tp *topo) {
	t.Helper()
	hold := exec.Command("ip", "netns", "exec", tp.srv.NS, "sleep", "600")
	must(t, hold.Start())
	t.Cleanup(func() { _ = hold.Process.Kill(); _ = hold.Wait() })
	time.Sleep(300 * time.Millisecond)
	name := "/run/netns/" + tp.srv.NS
	holdNs := fmt.Sprintf("/proc/%d/ns/net", hold.Process.Pid)
	before, err := os.Readlink(holdNs)
	must(t, err)
	if out, err := exec.Command("umount", name).CombinedOutput(); err != nil {
		t.Fatalf("umount %s: %v %s", name, err, out)
	}
	time.Sleep(2500 * time.Millisecond)
	if out, err := exec.Command("mount", "--bind", holdNs, name).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind %s %s: %v %s", holdNs, name, err, out)
	}
	after, err := os.Readlink(holdNs)
	must(t, err)
	t.Logf("pod namespace %s: name %s unmounted for 2.5 s and bound back (%s)", before, name, after)
}

// unnameNs starts two sleeps in the server's namespace and unmounts its
// /run/netns name, so that the agent finds the namespace by a /proc path.
// The returned function (call it once the pod interface is recorded) ends
// the sleep whose /proc path the agent's scan meets first, and binds the
// name back from the other.
func unnameNs(t *testing.T, tp *topo) func() {
	t.Helper()
	var sleeps []*exec.Cmd
	for range 2 {
		c := exec.Command("ip", "netns", "exec", tp.srv.NS, "sleep", "600")
		must(t, c.Start())
		sleeps = append(sleeps, c)
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	time.Sleep(300 * time.Millisecond)
	name := "/run/netns/" + tp.srv.NS
	if out, err := exec.Command("umount", name).CombinedOutput(); err != nil {
		t.Fatalf("umount %s: %v %s", name, err, out)
	}
	return func() {
		want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", sleeps[0].Process.Pid))
		must(t, err)
		procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
		first := ""
		for _, p := range procs {
			if l, err := os.Readlink(p); err == nil && l == want {
				first = p
				break
			}
		}
		var gone, kept *exec.Cmd
		for i, c := range sleeps {
			if first == fmt.Sprintf("/proc/%d/ns/net", c.Process.Pid) {
				gone, kept = c, sleeps[1-i]
			}
		}
		if gone == nil {
			t.Fatalf("the first process in the pod's namespace (%s) is not one of the test's sleeps", first)
		}
		_ = gone.Process.Kill()
		_ = gone.Wait()
		t.Logf("pod namespace %s: ended %s, the process the agent found it by; pid %d holds it", want, first, kept.Process.Pid)
		time.Sleep(1500 * time.Millisecond)
		holdNs := fmt.Sprintf("/proc/%d/ns/net", kept.Process.Pid)
		if out, err := exec.Command("mount", "--bind", holdNs, name).CombinedOutput(); err != nil {
			t.Fatalf("mount --bind %s %s: %v %s", holdNs, name, err, out)
		}
	}
}
