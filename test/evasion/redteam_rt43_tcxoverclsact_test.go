package evasion

import (
	"strings"
	"testing"
	"time"
)

// TestRedteamRT43TCXAheadOfClsact (rt43, root on the node): in clsact mode
// the agent's check that its filter runs first looked only at the clsact
// filters. The kernel runs an interface's TCX programs before its clsact
// filters, and a TCX program's TCX_PASS ends the chain: the filters never
// run. A TCX program that passes everything (as a CNI using TCX would
// attach its own) made Axon's filter dead while the agent kept reporting
// the interface enforced (/readyz 200, no "NOT ENFORCING"), and a denied
// request ran. Axon cannot remove another tool's program: it must say it
// is not enforcing, and enforce again once the program is gone.
func TestRedteamRT43TCXAheadOfClsact(t *testing.T) {
	t.Parallel()
	tp := newTopo43(t, 4)
	srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", "clsact")
	forServers(t, srvs, func(t *testing.T, s server) { expectNewDeniedReset(t, tp, s, "control, before the TCX program") })
	remove := passAhead(t, "tcx", tp.srv.Port)
	time.Sleep(2500 * time.Millisecond) // two attachment checks
	if code, body, err := a.Get("/readyz"); err != nil || code == 200 {
		t.Errorf("the agent reports ready (/readyz %d %q, %v) with a TCX program ahead of its clsact filter", code, body, err)
	}
	if !strings.Contains(a.Logs.String(), "runs before every clsact filter") {
		t.Errorf("the agent's log does not name the TCX program ahead of its filter:\n%s", a.Logs.String())
	}
	remove()
	time.Sleep(2500 * time.Millisecond)
	if code, body, err := a.Get("/readyz"); err != nil || code != 200 {
		t.Errorf("once the TCX program is gone the agent is not ready: /readyz %d %q, %v", code, body, err)
	}
	forServers(t, srvs, func(t *testing.T, s server) { expectNewDeniedReset(t, tp, s, "once the TCX program is gone") })
}
