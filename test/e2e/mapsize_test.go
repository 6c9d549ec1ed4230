package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
	"github.com/cilium/ebpf"
)

func pinnedEntries(t *testing.T, pins, name string) uint32 {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(pins, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return m.MaxEntries()
}

// An agent restarted with other map sizes (--max-path-rows ...) replaces
// the pinned decision maps and keeps enforcing throughout: under steady
// traffic, no denied request reaches the server and no allowed one fails
// (in clsact mode, but the one open at the restart: expectAllowedServed)
// across the kill, the restart with new sizes, and a restart with sizes too
// small for the table in force (refused: that agent is not ready and says
// which flag; the programs already attached keep enforcing).
func TestRestartWithOtherMapSizesKeepsEnforcing(t *testing.T) {
	for i, mode := range []string{"tcx", "clsact"} {
		t.Run(mode, func(t *testing.T) { testRestartResized(t, mode, fmt.Sprintf("10.84.%d", 1+i)) })
	}
}

func testRestartResized(t *testing.T, mode, subnet string) {
	tp := newTopoOn(t, subnet)
	writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
	pins := testPinDir(t)
	start := func(args ...string) *agentProc {
		return agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: tp.dir, PinDir: pins, Ifaces: tp.ports(), Mode: mode, Args: args}, 30*time.Second)
	}
	a := start()
	if n := pinnedEntries(t, pins, "paths"); n != 262144 {
		t.Fatalf("default paths map: %d entries, want 262144", n)
	}

	denied := startTraffic(tp.batch, func(i int) string { return fmt.Sprintf("%s/api/denied-%d", tp.url, i) })
	allowed := startTraffic(tp.web, func(i int) string { return fmt.Sprintf("%s/api/allowed-%d", tp.url, i) })
	time.Sleep(300 * time.Millisecond)

	a.Kill()
	killedAt := time.Now()
	b := start("--max-path-rows", "4096", "--max-source-classes", "2048")
	defer logRestartFailure(t, denied, allowed, killedAt, time.Now(), pins)
	if n := pinnedEntries(t, pins, "paths"); n != 8192 {
		t.Errorf("after a restart with --max-path-rows 4096 the paths map has %d entries, want 8192", n)
	}
	if n := pinnedEntries(t, pins, "classes"); n != 4096 {
		t.Errorf("after a restart with --max-source-classes 2048 the classes map has %d entries, want 4096", n)
	}
	// A change after the resize is applied to the new maps.
	writeFile(t, tp.dir, "orders.yaml", strings.Replace(ordersPolicy("Enforce"), "prefix: /api/admin", "prefix: /api/allowed-never", 1))
	b.WaitMetric("axon_policy_generation", nil, 10*time.Second, func(v float64) bool { return v >= 2 })
	time.Sleep(300 * time.Millisecond)

	// Too small for the table in force: refused before anything is
	// replaced; the programs b attached keep enforcing b's table.
	b.Kill()
	c := agentproc.Launch(t, agentBin, agentproc.Config{PolicyDir: tp.dir, PinDir: pins, Ifaces: tp.ports(), Mode: mode,
		Args: []string{"--max-path-rows", "1"}})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(c.Logs.String(), "--max-path-rows") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(c.Logs.String(), "--max-path-rows") {
		t.Errorf("an agent whose --max-path-rows cannot hold the pinned table does not say so:\n%s", c.Logs.String())
	}
	if code, _, _ := c.Get("/readyz"); code == 200 {
		t.Error("an agent that could not load its maps is ready")
	}
	if n := pinnedEntries(t, pins, "paths"); n != 8192 {
		t.Errorf("a refused resize replaced the paths map (%d entries)", n)
	}
	time.Sleep(time.Second)
	d, al := denied.Stop(), allowed.Stop()

	t.Logf("denied traffic: %v; allowed traffic: %v", tally(d), tally(al))
	if n := tally(d)["reset"]; n != len(d) || n < 10 {
		t.Errorf("%d of %d denied requests were reset, want all (and at least 10)", n, len(d))
	}
	if len(al) < 10 {
		t.Errorf("only %d allowed requests sent, want at least 10", len(al))
	}
	expectAllowedServed(t, al, mode, 1, "across the restarts")
	for _, l := range tp.server.Requests() {
		if strings.Contains(l, "/api/denied-") {
			t.Errorf("a denied request reached the server: %s", l)
		}
	}
}
