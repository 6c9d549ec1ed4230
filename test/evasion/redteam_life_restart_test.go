package evasion

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
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
			type held struct {
				f       *Flow
				tok     string
				allowed []byte
			}
			conns := map[string]held{}
			for _, s := range srvs {
				tp.rawControl(t, s, false)
				tok := token("down")
				_, allowed := twins(tok)
				conns[s.Name()] = held{tp.connect(t, s.Port(), false, nil), tok, allowed}
			}
			a.Kill()
			detach(t, mode, a.PinDir, tp.srv.Port)
			for _, s := range srvs {
				c := conns[s.Name()]
				denied, _ := twins(c.tok)
				must(t, c.f.Data(c.f.ISN+1, denied[:len(denied)-2]))
			}
			time.Sleep(100 * time.Millisecond)
			b := agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: tp.dir, PinDir: a.PinDir, Ifaces: []string{tp.srv.Port}, Mode: mode}, 20*time.Second)
			waitGeneration(t, b, 1, 10*time.Second)
			forServers(t, srvs, func(t *testing.T, s server) {
				expectNewDeniedReset(t, tp, s, "after the restart")
				c := conns[s.Name()]
				must(t, c.f.Data(c.f.ISN+1, c.allowed))
				resp, rst := c.f.Response("\r\n\r\n", time.Second)
				expectNeverRun(t, s, c.tok, "GET /api/admin/"+c.tok+" whose head was sent while no agent ran and its attachment was gone ("+describe(resp, rst)+")")
			})
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
