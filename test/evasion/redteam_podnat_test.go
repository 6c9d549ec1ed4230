package evasion

import (
	"os/exec"
	"testing"
	"time"
)

// TestRedteamPodPortRedirect: the server pod redirects an unpoliced port
// to its policed server port with its own netfilter (nft "tcp dport 9090
// redirect to :8080" in the pod's namespace, as images that expose 80 and
// listen on 8080 do). The TC program, in front of the pod, sees port 9090,
// which no policy names, and passes the connection; the pod's NAT hands it
// to the Go server on 8080. Like a tunnel the pod terminates, this is the
// pod's own configuration (docs/security.md trusts the pod); the test
// records the gap. It skips without nft.
func TestRedteamPodPortRedirect(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed")
	}
	tp := newTopo99(t, 9)
	tp.policy("Enforce", "")
	s := tp.servers("go")[0]
	tp.run(tp.srv, "nft", "add table ip axnat; add chain ip axnat pre { type nat hook prerouting priority -100; }; add rule ip axnat pre tcp dport 9090 redirect to :8080")
	tp.startAgent()
	direct := token("natdirect")
	got, err := exchange(t, tp.cli, tp.srvAddr(goPort), "GET /api/admin/"+direct+" HTTP/1.1\r\nHost: srv\r\n\r\n", time.Second)
	expectNever(t, s, direct, "GET /api/admin to the policed port ("+firstLine(got, err)+")")
	bad := token("natbad")
	got, err = exchange(t, tp.cli, tp.srvAddr(9090), "GET /api/admin/"+bad+" HTTP/1.1\r\nHost: srv\r\n\r\n", time.Second)
	expectNever(t, s, bad, "GET /api/admin to port 9090, redirected by the pod to 8080 ("+firstLine(got, err)+")")
}
