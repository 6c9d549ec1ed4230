package evasion

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRedteamStaleFlowAcrossDownedAttachment: a restarted agent keeps the
// flows of interfaces where the killed agent's pinned programs kept running
// (TestRestartKeepsOpenConnections, test/e2e), and only those. Here the
// attachment goes while no agent runs (the clsact qdisc deleted, or the
// pinned TCX link detached by hand): the start of a denied head reaches
// the server unseen, and the flow still says nothing was let through. The
// new agent must forget that interface's flows before its programs run, so
// that an allowed request of the same length sent at the flow's old next
// byte is refused instead of ending the denied head the server holds
// (TestRedteamStaleFlowAcrossUnpolicedWindow's attack, across a restart).
func TestRedteamStaleFlowAcrossDownedAttachment(t *testing.T) {
	t.Parallel()
	for i, mode := range []string{"clsact", "tcx"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tp := newTopo82(t, 9+i)
			srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", mode)
			conns := openRawConns(t, tp, srvs, "down")
			a.Kill()
			detach(t, mode, a.PinDir, tp.srv.Port)
			sendDeniedHead(t, conns)
			restartOn(t, tp, a.PinDir, mode)
			expectHeldNeverRun(t, tp, srvs, conns, sendAllowedTwin(t), "whose head was sent while no agent ran and its attachment was gone")
		})
	}
}

// detach removes Axon's attachment (mode) from both directions of iface
// the way another tool would, leaving the pins.
func detach(t *testing.T, mode, pinDir, iface string) {
	t.Helper()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, out)
		}
	}
	if mode == "clsact" {
		run("tc", "qdisc", "del", "dev", iface, "clsact")
		return
	}
	links, err := filepath.Glob(filepath.Join(pinDir, "links", "tcx_*_"+iface))
	if err != nil || len(links) == 0 {
		t.Fatalf("no pinned links of %s under %s (%v)", iface, pinDir, err)
	}
	for _, l := range links {
		run("bpftool", "link", "detach", "pinned", l)
	}
}
