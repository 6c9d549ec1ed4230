package evasion

import (
	"strings"
	"testing"
	"time"
)

// Red team rt47: the class-36 rule (an absolute-form authority must name a
// host) against targets split across segments at every byte of the scheme
// and authority, on Node (WHATWG URL router). Topology on 10.64.<n>.0/24
// and fd64:<n>::/64.
func TestRedteamRT47AuthoritySplit(t *testing.T) {
	tp := newTopoIn(t, "10.64", "fd64", 1)
	tp.policy("Enforce", "")
	nd := startNode(t, tp.srv, goPort, "")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	ok := token("ok")
	resp, err := exchangeN(t, tp, nd.Port(), "GET http://srv/api/v1/"+ok+" HTTP/1.1\r\nHost: srv\r\n\r\n")
	t.Logf("control (allowed, absolute form): %s", firstLine(resp, err))
	expectArrived(t, nd, ok, "an allowed absolute-form request (control)")
	for _, tmpl := range []string{"http:///api/api/admin/%s", "http://u@/api/api/admin/%s", "HTTP://:80/api/api/admin/%s"} {
		for k := 5; k <= strings.Index(tmpl, "/api")+1; k++ {
			bad := token("split")
			line := "GET " + strings.ReplaceAll(tmpl, "%s", bad) + " HTTP/1.1\r\nHost: srv\r\n\r\n"
			resp, err := exchangeN(t, tp, nd.Port(), line[:k], line[k:])
			t.Logf("%q | %q: %s", line[:k], line[k:k+12], firstLine(resp, err))
			time.Sleep(100 * time.Millisecond)
			for _, p := range routedPaths(nd, bad) {
				if strings.HasPrefix(p, "/api/admin") {
					t.Errorf("LEAK node: %q split at %d ran with pathname %q", line, k, p)
				}
			}
		}
	}
	t.Logf("agent: %s", metricsSummary(a))
}
