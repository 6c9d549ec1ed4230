package evasion

import (
	"testing"
	"time"
)

// TestRedteamAuditGapAcrossAgentRestart (rt34, held if it passes): the
// rt33 attack (a bad-checksum allowed copy parsed, the same positions as
// IPv4 fragments holding an open denied head: an audit gap) while
// Audit-only; then the agent is killed (SIGKILL), the policy switched to
// Enforce while no agent runs, and a new agent adopts the pins (once with
// the same sizes, once resizing the decision maps). The gap must survive:
// "\r\n\r\n" after the restart must be refused.
func TestRedteamAuditGapAcrossAgentRestart(t *testing.T) {
	t.Parallel()
	for i, args := range [][]string{nil, {"--max-path-rows", "4096", "--max-source-classes", "4096", "--max-pod-ips", "1024"}} {
		t.Run([]string{"same-sizes", "resizing"}[i], func(t *testing.T) {
			tp := newTopoIn(t, "10.78", "fd78", 3+i)
			srvs, a := policedTopo(t, tp, "Audit")
			type held struct {
				f       *Flow
				n       int
				tok, ok string
			}
			hs := map[string]held{}
			for j, s := range srvs {
				tp.rawControl(t, s, false)
				tok, okTok, A, Ap := gapHeads("gaprst")
				f := tp.connect(t, s.Port(), false, nil)
				sendDroppedCopy(t, f, A)
				sendFragments4(t, f, Ap, uint16(6000+j))
				hs[s.Name()] = held{f, len(A), tok, okTok}
			}
			time.Sleep(300 * time.Millisecond)
			t.Logf("while Audit-only: %s", metricsSummary(a))
			a.Kill()
			tp.policy("Enforce", "")
			b := restartOn(t, tp, a.PinDir, "", args...)
			forServers(t, srvs, func(t *testing.T, s server) {
				expectNewDeniedReset(t, tp, s, "after the restart")
				hd := hs[s.Name()]
				f := hd.f
				must(t, f.Data(f.ISN+1+uint32(hd.n), []byte("\r\n\r\n")))
				resp, rst := f.Response("\r\n\r\n", time.Second)
				t.Logf("%s: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(b))
				if logged(s, hd.ok) {
					t.Errorf("the bad-checksum copy ran on %s", s.Name())
				}
				expectNeverRun(t, s, hd.tok, "a denied head held in fragments (audit gap), ended after an agent restart that switched to Enforce ("+describe(resp, rst)+")")
			})
		})
	}
}
