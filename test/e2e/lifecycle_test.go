package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/test/netns"
	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// traffic sends requests in a loop from one host until stopped, recording
// every outcome in order.
type traffic struct {
	mu       sync.Mutex
	outcomes []string
	times    []time.Time
	stop     chan struct{}
	done     chan struct{}
}

// startTraffic sends GET url(i) from h with a Go client, one request at a
// time, until stop.
func startTraffic(h *netns.Host, url func(i int) string) *traffic {
	tr := &traffic{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		for i := 0; ; i++ {
			select {
			case <-tr.stop:
				return
			default:
			}
			o := goOutcome(h, "GET", url(i))
			tr.mu.Lock()
			tr.outcomes = append(tr.outcomes, o)
			tr.times = append(tr.times, time.Now())
			tr.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return tr
}

func (tr *traffic) Stop() []string {
	close(tr.stop)
	<-tr.done
	return tr.snapshot()
}

func (tr *traffic) snapshot() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.outcomes...)
}

func (tr *traffic) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.outcomes)
}

// expectAllowedServed checks that every allowed request of al (one client,
// one request at a time) succeeded across agent restarts (what), but in
// clsact mode: a restart there forgets the interface's flows (its hooks
// have no revision to say the programs ran first all along), so the one
// connection open at each of the restarts may be reset.
func expectAllowedServed(t *testing.T, al []string, mode string, restarts int, what string) {
	t.Helper()
	lost := 0
	if mode == "clsact" {
		lost = min(tally(al)["reset"], restarts)
	}
	if n := tally(al)["200"]; n+lost != len(al) {
		t.Errorf("%d of %d allowed requests failed %s (%v)", len(al)-n, len(al), what, tally(al))
	}
}

// unlike lists the requests whose outcome was not want, each with the time
// it ended (UTC, as the agent logs it), for a failure message.
func (tr *traffic) unlike(want string) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for i, o := range tr.outcomes {
		if o != want {
			out = append(out, fmt.Sprintf("#%d %s at %s", i, o, stamp(tr.times[i])))
		}
	}
	if len(out) > 8 {
		out = append(out[:8], fmt.Sprintf("and %d more", len(out)-8))
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// stamp formats t as the agent's log does (UTC, milliseconds).
func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// logRestartFailure says, when t failed, which requests of denied and
// allowed had another outcome than a restart allows, when the agent was
// killed and when its successor was ready, and the datapath's drop reasons
// (the pinned counters under pins).
func logRestartFailure(t *testing.T, denied, allowed *traffic, killed, ready time.Time, pins string) {
	t.Helper()
	if !t.Failed() {
		return
	}
	t.Logf("killed at %s, restarted agent ready at %s; denied requests not reset: %s; allowed requests not served: %s",
		stamp(killed), stamp(ready), denied.unlike("reset"), allowed.unlike("200"))
	t.Logf("datapath drops by reason: %s", pinnedReasons(pins))
}

// pinnedReasons reads the datapath's per-reason packet counters from the
// pin directory, as "reason=count" for those not zero.
func pinnedReasons(pins string) string {
	m, err := ebpf.LoadPinnedMap(filepath.Join(pins, bpf.AxonMapReasonStats), nil)
	if err != nil {
		return err.Error()
	}
	defer m.Close()
	var out []string
	for r := range m.MaxEntries() {
		var perCPU []uint64
		if err := m.Lookup(r, &perCPU); err != nil {
			return err.Error()
		}
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%s=%d", datapath.Reason(r), n))
		}
	}
	return strings.Join(out, " ")
}

func tally(outs []string) map[string]int {
	m := map[string]int{}
	for _, o := range outs {
		m[o]++
	}
	return m
}

func TestPolicyEditWhileTrafficFlows(t *testing.T) {
	tp := newTopo(t, 2)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	a := startAgent(t, tp.dir, testPinDir(t), tp.ports()...)
	gen := a.Metric("axon_policy_generation", nil)

	tr := startTraffic(tp.web, func(i int) string { return fmt.Sprintf("%s/api/orders/%d", tp.url, i) })
	time.Sleep(300 * time.Millisecond)
	// Narrow web's allowance to /api/v2: /api/orders is now denied by default.
	edited := time.Now()
	writeFile(t, tp.dir, "orders.yaml", strings.Replace(ordersPolicy("Enforce"), "prefix: /api\n", "prefix: /api/v2\n", 1))
	// The contract is 2 s; allow slack for a loaded CI machine, and report.
	a.WaitMetric("axon_policy_generation", nil, 10*time.Second, func(v float64) bool { return v > gen })
	applied := time.Since(edited)
	time.Sleep(300 * time.Millisecond)
	outs := tr.Stop()

	t.Logf("edit applied after %v; outcomes in order: %v", applied, tally(outs))
	// Every request got the old verdict (200) or the new one (reset), and
	// once the new verdict appeared the old one never came back.
	flipped := false
	for i, o := range outs {
		switch o {
		case "200":
			if flipped {
				t.Fatalf("request %d allowed after the new policy had denied an earlier one: %v", i, outs)
			}
		case "reset":
			flipped = true
		default:
			t.Fatalf("request %d: unexpected outcome %q (want 200 or reset)", i, o)
		}
	}
	if !flipped {
		t.Fatalf("the edited policy never denied a request: %v", tally(outs))
	}
	if outs[0] != "200" {
		t.Errorf("first request (old policy) got %s, want 200", outs[0])
	}
	if got := goOutcome(tp.web, "GET", tp.url+"/api/v2/ok"); got != "200" {
		t.Errorf("GET /api/v2/ok after the edit: %s, want 200", got)
	}
}

func TestMalformedPolicyKeepsLastGood(t *testing.T) {
	tp := newTopo(t, 3)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	a := startAgent(t, tp.dir, testPinDir(t), tp.ports()...)
	gen := a.Metric("axon_policy_generation", nil)

	check := func(when string) {
		t.Helper()
		if got := goOutcome(tp.web, "GET", tp.url+"/api/orders/1"); got != "200" {
			t.Errorf("%s: web GET /api/orders: %s, want 200", when, got)
		}
		path := fmt.Sprintf("/api/orders/%d", time.Now().UnixNano())
		if got := curlOutcome(t, tp.batch, tp.url+path); got != "reset" {
			t.Errorf("%s: batch GET: %s, want reset", when, got)
		}
		if tp.server.Saw(path) {
			t.Errorf("%s: the server saw batch's denied request", when)
		}
	}
	check("before")

	// A file that is not YAML, and an edit that would drop the policy's
	// deny default by making the policy invalid: neither may loosen anything.
	writeFile(t, tp.dir, "broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n")
	writeFile(t, tp.dir, "orders.yaml", strings.Replace(ordersPolicy("Enforce"), "defaultAction: Deny", "defaultAction: Maybe", 1))
	a.WaitMetric("axon_policy_load_errors_total", nil, 10*time.Second, func(v float64) bool { return v >= 1 })
	if v := a.WaitMetric("axon_policy_broken_files", nil, 10*time.Second, func(v float64) bool { return v >= 2 }); v != 2 {
		t.Errorf("axon_policy_broken_files = %v, want 2", v)
	}
	if v := a.Metric("axon_policy_last_load_ok", nil); v != 0 {
		t.Errorf("axon_policy_last_load_ok = %v after a failed load, want 0", v)
	}
	if v := a.Metric("axon_policy_generation", nil); v != gen {
		t.Errorf("generation moved from %v to %v: a broken directory was applied", gen, v)
	}
	if !strings.Contains(a.Logs.String(), "broken.yaml") {
		t.Errorf("the agent log does not name broken.yaml:\n%s", a.Logs.String())
	}
	if code, _, _ := a.Get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d while the last good policy is enforced, want 200", code)
	}
	check("with broken files")

	// Fixing the files applies the directory again.
	if err := os.Remove(tp.dir + "/broken.yaml"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	a.WaitMetric("axon_policy_broken_files", nil, 10*time.Second, func(v float64) bool { return v == 0 })
	a.WaitMetric("axon_policy_last_load_ok", nil, 10*time.Second, func(v float64) bool { return v == 1 })
	check("after the fix")
}

func TestSIGKILLKeepsEnforcingAndRestartAdopts(t *testing.T) {
	for i, mode := range []string{"tcx", "clsact"} {
		t.Run(mode, func(t *testing.T) { testSIGKILL(t, mode, 4+10*i) })
	}
}

func testSIGKILL(t *testing.T, mode string, subnet int) {
	tp := newTopo(t, subnet)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	pins := testPinDir(t)
	a := startAgentMode(t, mode, tp.dir, pins, tp.ports()...)

	denied := startTraffic(tp.batch, func(i int) string { return fmt.Sprintf("%s/api/denied-%d", tp.url, i) })
	allowed := startTraffic(tp.web, func(i int) string { return fmt.Sprintf("%s/api/allowed-%d", tp.url, i) })
	time.Sleep(300 * time.Millisecond)

	a.Kill()
	killedAt, killed := time.Now(), denied.count()
	time.Sleep(2 * time.Second)
	if n := denied.count() - killed; n < 5 {
		t.Fatalf("only %d requests sent while the agent was down", n)
	}

	b := startAgentMode(t, mode, tp.dir, pins, tp.ports()...)
	readyAt := time.Now()
	defer logRestartFailure(t, denied, allowed, killedAt, readyAt, pins)
	if !strings.Contains(b.Logs.String(), "adopted=true") {
		t.Errorf("restarted agent did not report adopting the pinned attachments:\n%s", b.Logs.String())
	}
	time.Sleep(300 * time.Millisecond)
	d, al := denied.Stop(), allowed.Stop()

	t.Logf("denied traffic: %v; allowed traffic: %v", tally(d), tally(al))
	if n := tally(d)["reset"]; n != len(d) {
		t.Errorf("%d of %d denied requests were not reset", len(d)-n, len(d))
	}
	expectAllowedServed(t, al, mode, 1, "across the kill and restart")
	for _, l := range tp.server.Requests() {
		if strings.Contains(l, "/api/denied-") {
			t.Errorf("a denied request reached the server: %s", l)
		}
	}
	if v := b.Metric("axon_policy_decisions_total", map[string]string{"policy": "orders-api", "decision": "deny"}); v < 1 {
		t.Errorf("restarted agent counts no denies (%v)", v)
	}
}

func TestCleanupRemovesEverything(t *testing.T) {
	tp := newTopo(t, 5)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	pins := testPinDir(t)
	a := startAgent(t, tp.dir, pins, tp.ports()...)
	a.Kill()
	if got := curlOutcome(t, tp.batch, tp.url+"/api/before-cleanup"); got != "reset" {
		t.Fatalf("after the agent died, batch got %s, want reset (enforcement must survive)", got)
	}
	runCleanup(t, pins)
	if _, err := os.Stat(pins); !os.IsNotExist(err) {
		t.Errorf("pin directory %s still exists after cleanup", pins)
	}
	if got := curlOutcome(t, tp.batch, tp.url+"/api/after-cleanup"); got != "200" {
		t.Errorf("after cleanup batch got %s, want 200 (nothing attached)", got)
	}
	for _, port := range tp.ports() {
		lk, err := netlink.LinkByName(port)
		if err != nil {
			t.Fatal(err)
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			fs, _ := netlink.FilterList(lk, parent)
			if len(fs) != 0 {
				t.Errorf("%s still has tc filters after cleanup: %v", port, fs)
			}
		}
	}
}

func TestMissingInterfaceFailsReadiness(t *testing.T) {
	tp := newTopo(t, 6)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	missing := fmt.Sprintf("axmiss%d", time.Now().UnixNano()%100000)
	a := launchAgent(t, tp.dir, testPinDir(t), append(tp.ports(), missing)...)

	// The agent must say it is not enforcing on the missing interface.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := a.Get("/readyz")
		if err == nil && code == 503 && strings.Contains(body, missing) && strings.Contains(body, "interface not found") {
			break
		}
		if err == nil && code == 200 {
			t.Fatalf("/readyz = 200 although %s does not exist", missing)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never reported the missing interface (last %d %q %v)", code, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := a.Metric("axon_enforcing", nil); v != 0 {
		t.Errorf("axon_enforcing = %v with an interface missing, want 0", v)
	}
	if v := a.Metric("axon_attached", map[string]string{"interface": missing}); v != 0 {
		t.Errorf("axon_attached for %s = %v, want 0", missing, v)
	}
	if !strings.Contains(a.Logs.String(), "NOT ENFORCING") {
		t.Errorf("the log does not say loudly that it is not enforcing:\n%s", a.Logs.String())
	}
	// The existing interfaces are protected meanwhile.
	if got := curlOutcome(t, tp.batch, tp.url+"/api/x"); got != "reset" {
		t.Errorf("batch got %s on an attached interface, want reset", got)
	}

	// When the interface appears, the agent attaches and becomes ready.
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: missing}, PeerName: missing + "p"}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(v) })
	a.WaitReady(10 * time.Second)
	if v := a.Metric("axon_enforcing", nil); v != 1 {
		t.Errorf("axon_enforcing = %v once every interface is attached, want 1", v)
	}
}

func TestRecreatedInterfaceIsReattached(t *testing.T) {
	tp := newTopo(t, 7)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	a := startAgent(t, tp.dir, testPinDir(t), tp.ports()...)
	gen := a.Metric("axon_policy_generation", nil)

	// Recreate the attached bridge port, as a pod restart recreates its
	// veth: the kernel drops every program attached to the old device.
	port := tp.orders.Port
	mustRun(t, "ip", "link", "del", port)
	mustRun(t, "ip", "link", "add", port, "type", "veth", "peer", "name", port+"p", "netns", tp.orders.NS)
	// (deleting the port deleted its peer, the pod's eth0, too)
	mustRun(t, "ip", "-n", tp.orders.NS, "link", "set", port+"p", "name", "eth0")
	mustRun(t, "ip", "-n", tp.orders.NS, "addr", "add", tp.orders.Addr.String()+"/24", "dev", "eth0")
	mustRun(t, "ip", "-n", tp.orders.NS, "link", "set", "eth0", "up")
	mustRun(t, "ip", "link", "set", port, "master", tp.net.Bridge, "up")

	// The agent notices within its 1 s check, says so, and re-attaches.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(a.Logs.String(), "attachment lost") {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not report losing the attachment:\n%s", a.Logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.WaitMetric("axon_attached", map[string]string{"interface": port}, 10*time.Second, func(v float64) bool { return v == 2 })
	a.WaitReady(10 * time.Second)
	path := fmt.Sprintf("/api/after-recreate-%d", time.Now().UnixNano())
	deadline = time.Now().Add(20 * time.Second)
	for goOutcome(tp.web, "GET", tp.url+"/api/orders/1") != "200" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // the bridge relearns the port
	}
	if got := curlOutcome(t, tp.batch, tp.url+path); got != "reset" {
		t.Errorf("batch after the port was recreated: %s, want reset", got)
	}
	if tp.server.Saw(path) {
		t.Error("a denied request reached the server after the port was recreated")
	}
	if v := a.Metric("axon_policy_generation", nil); v != gen {
		t.Errorf("generation %v -> %v: re-attaching should not reload the policy", gen, v)
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

func TestRestartWithBrokenPolicyKeepsPinnedTable(t *testing.T) {
	tp := newTopo(t, 8)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	pins := testPinDir(t)
	a := startAgent(t, tp.dir, pins, tp.ports()...)
	a.Kill()

	// While the agent is down the policy file breaks. The restarted agent
	// cannot load it: the table pinned by the first agent stays in force,
	// and the agent does not claim to be ready.
	writeFile(t, tp.dir, "orders.yaml", "apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nspec: [\n")
	b := launchAgent(t, tp.dir, pins, tp.ports()...)
	b.WaitMetric("axon_policy_load_errors_total", nil, 10*time.Second, func(v float64) bool { return v >= 1 })
	code, body, err := b.Get("/readyz")
	if err != nil || code != 503 || !strings.Contains(body, "no policy set applied") {
		t.Errorf("/readyz = %d %q %v, want 503 naming the missing policy set", code, body, err)
	}
	path := fmt.Sprintf("/api/broken-restart-%d", time.Now().UnixNano())
	if got := curlOutcome(t, tp.batch, tp.url+path); got != "reset" {
		t.Errorf("batch with the pinned table: %s, want reset", got)
	}
	if got := goOutcome(tp.web, "GET", tp.url+"/api/orders/1"); got != "200" {
		t.Errorf("web with the pinned table: %s, want 200", got)
	}
	if tp.server.Saw(path) {
		t.Error("a denied request reached the server")
	}
	if logs := b.Logs.String(); !strings.Contains(logs, "in_force=pinned") ||
		strings.Contains(logs, "in_force=none") {
		t.Errorf("the log should say the pinned policy stays in force, and not that nothing is enforced:\n%s", logs)
	}
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	b.WaitReady(10 * time.Second)
}

func TestFreshStartWithBrokenPolicyIsNotEnforcing(t *testing.T) {
	tp := newTopo(t, 12)
	writeFile(t, tp.dir, "orders.yaml", "apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nspec: [\n")
	// No pins: no earlier agent, so no policy at all is in force.
	a := launchAgent(t, tp.dir, testPinDir(t), tp.ports()...)
	a.WaitMetric("axon_policy_load_errors_total", nil, 10*time.Second, func(v float64) bool { return v >= 1 })
	code, body, err := a.Get("/readyz")
	if err != nil || code != 503 || !strings.Contains(body, "no policy set applied") {
		t.Errorf("/readyz = %d %q %v, want 503 naming the missing policy set", code, body, err)
	}
	if v := a.Metric("axon_enforcing", nil); v != 0 {
		t.Errorf("axon_enforcing = %v with no policy loaded, want 0", v)
	}
	if v := a.Metric("axon_policy_generation", nil); v != 0 {
		t.Errorf("axon_policy_generation = %v, want 0", v)
	}
	logs := a.Logs.String()
	if !strings.Contains(logs, "in_force=none") {
		t.Errorf("the log does not say loudly that no policy is enforced:\n%s", logs)
	}
	if strings.Contains(logs, "in force") {
		t.Errorf("the log claims a policy is in force although none was ever loaded:\n%s", logs)
	}
	// Fixing the file makes the agent enforce and ready.
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	a.WaitReady(10 * time.Second)
	if got := curlOutcome(t, tp.batch, tp.url+"/api/after-fix"); got != "reset" {
		t.Errorf("batch after the fix: %s, want reset", got)
	}
}

func TestDatapathFailureIsLoudAndNotReady(t *testing.T) {
	tp := newTopo(t, 9)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	// A pin directory outside bpffs: the datapath cannot be set up.
	a := launchAgent(t, tp.dir, t.TempDir(), tp.ports()...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := a.Get("/readyz")
		if err == nil && code == 503 && strings.Contains(body, "datapath") {
			break
		}
		if err == nil && code == 200 {
			t.Fatal("/readyz = 200 without a datapath")
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never reported the datapath failure (last %d %q %v)", code, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := a.Metric("axon_enforcing", nil); v != 0 {
		t.Errorf("axon_enforcing = %v, want 0", v)
	}
	if !strings.Contains(a.Logs.String(), "cannot enforce policy") {
		t.Errorf("the log does not say it cannot enforce:\n%s", a.Logs.String())
	}
}
