package evasion

import (
	"testing"
	"time"
)

// TestRedteamGapAuditEnforceAuditEnforce (class 34, red team rt35, held):
// Audit -> Enforce -> Audit -> Enforce. A connection opened while enforced
// (its flow parses normally), then the endpoint is switched back to
// Audit-only and the rt33 attack runs on it (an allowed request with a bad
// checksum, parsed; the denied open head over the same bytes in IPv4
// fragments, an audit gap, taken by the server); then Enforce again and
// "\r\n\r\n": the flow was open at the gap, refused (no_flow).
func TestRedteamGapAuditEnforceAuditEnforce(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.77", "fd77", 7)
	tp.policy("Audit", "")
	srvs := tp.servers("go")
	a := tp.startAgent()
	gen := 1
	waitGeneration(t, a, gen, 10*time.Second)
	s := srvs[0]
	tp.rawControl(t, s, false)
	tp.policy("Enforce", "")
	gen++
	waitGeneration(t, a, gen, 10*time.Second)
	tok, _, A, Ap := gapHeads("flipgap")
	f := tp.connect(t, s.Port(), false, nil)
	time.Sleep(1200 * time.Millisecond)
	tp.policy("Audit", "")
	gen++
	waitGeneration(t, a, gen, 10*time.Second)
	sendDroppedCopy(t, f, A)
	sendFragments4(t, f, Ap, 7200)
	time.Sleep(200 * time.Millisecond)
	tp.policy("Enforce", "")
	gen++
	waitGeneration(t, a, gen, 10*time.Second)
	must(t, f.Data(f.ISN+1+uint32(len(A)), []byte("\r\n\r\n")))
	resp, rst := f.Response("\r\n\r\n", time.Second)
	t.Logf("after the second Enforce: %s; agent: %s", describe(resp, rst), metricsSummary(a))
	expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" (rt33 attack in the second Audit window, flow born while enforced) ended after the second switch to Enforce ("+describe(resp, rst)+")")
	expectNewDeniedReset(t, tp, s, "after the second Enforce")
}
