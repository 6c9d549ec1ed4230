package evasion

import (
	"fmt"
	"net"
	"testing"
)

// TestFastOpenPodServesOrdinaryConnections (red team rt40's probe, the
// counterpart of the rule 2 attacks): on a pod whose
// namespace lets servers take fast-open data (tcp_fastopen=0x403), rule 2's
// socket lookup must find the connection's own socket for ordinary
// connections (unbound listeners: Go's dual-stack [::] listener, whose IPv4
// children are v4-mapped AF_INET6 sockets; nginx on 0.0.0.0 and [::];
// Python), or every legitimate connection there is refused
// (server_unverified). Real curl, with and without --tcp-fastopen, IPv4
// and IPv6.
func TestFastOpenPodServesOrdinaryConnections(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.71", "fd71", 1)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.run(tp.cli, "sysctl", "-qw", "net.ipv4.tcp_fastopen=1")
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	for _, s := range srvs {
		for _, v6 := range []bool{false, true} {
			for _, extra := range [][]string{nil, {"--tcp-fastopen"}} {
				host := tp.srvAddr(s.Port())
				if v6 {
					host = net.JoinHostPort(tp.srv6.String(), fmt.Sprint(s.Port()))
				}
				for i := 0; i < 3; i++ {
					allow := token("/api/v1/sockpass")
					got := curl(t, tp.cli, "http://"+host+allow, extra...)
					if got != "200" {
						t.Errorf("%s v6=%v %v try %d: allowed request got %s; agent: %s", s.Name(), v6, extra, i, got, metricsSummary(a))
						continue
					}
					expectArrived(t, s, allow, "the allowed request")
				}
			}
		}
	}
	t.Logf("agent: %s", metricsSummary(a))
}
