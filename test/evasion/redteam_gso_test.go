package evasion

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRedteamBigSegments: one large send from the client pod, carried
// through the veth pair and bridge as one GSO skb (TSO on the veth), seen
// whole by the TC program on the server's port: an allowed request with a
// ~58 KiB header or body and a denied request pipelined behind it in the
// same send; the same with the client's offloads off (ethtool -K tso gso
// off: MSS-sized segments) and with BIG TCP on the client's interface
// over IPv6 (gso_max_size 196608: GSO skbs over 64 KiB, IPv6 payload
// length 0; iproute2 6.1 here cannot set gso_ipv4_max_size),
// there also with a 150 KiB body. The denied request must never run.
// Controls per mode: the allowed request alone (same size) is served.
func TestRedteamBigSegments(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 6)
	tp.policy("Enforce", "")
	s := tp.servers("go")[0]
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	denied := func(bad string) string { return "GET /api/admin/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n" }
	longHead := func(ok string, n int) string {
		return "GET /api/v1/" + ok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: " + strings.Repeat("p", n) + "\r\n\r\n"
	}
	longBody := func(ok string, n int) string {
		return "POST /api/v1/" + ok + " HTTP/1.1\r\nHost: srv\r\nContent-Length: " + fmt.Sprint(n) + "\r\n\r\n" + strings.Repeat("b", n)
	}
	type shape struct {
		name string
		req  func(ok string) string
	}
	shapes := []shape{
		{"58k-header", func(ok string) string { return longHead(ok, 58<<10) }},
		{"58k-body", func(ok string) string { return longBody(ok, 58<<10) }},
		{"150k-body", func(ok string) string { return longBody(ok, 150<<10) }},
	}
	v4 := tp.srvAddr(goPort)
	v6 := net.JoinHostPort(tp.srv6.String(), fmt.Sprint(goPort))
	modes := []struct {
		name  string
		addr  string
		setup func()
	}{
		{"tso-on", v4, func() {}},
		{"tso-on-v6", v6, func() {}},
		{"tso-off", v4, func() {
			if _, err := exec.LookPath("ethtool"); err != nil {
				t.Logf("ethtool missing: offloads left on")
				return
			}
			tp.run(tp.cli, "ethtool", "-K", "eth0", "tso", "off", "gso", "off")
		}},
		{"big-tcp-v6", v6, func() {
			if _, err := exec.LookPath("ethtool"); err == nil {
				tp.run(tp.cli, "ethtool", "-K", "eth0", "tso", "on", "gso", "on")
			}
			tp.run(tp.cli, "ip", "link", "set", "dev", "eth0", "gso_max_size", "196608")
		}},
	}
	for _, m := range modes {
		m.setup()
		for _, sh := range shapes {
			ok := token("bigok")
			got, err := writeThenTo(t, tp, m.addr, sh.req(ok), 0, "")
			t.Logf("%s %s alone: %s, served %v", m.name, sh.name, firstLine(got, err), logged(s, ok))
			ok2, bad := token("bigok"), token("bigbad")
			got, err = writeThenTo(t, tp, m.addr, sh.req(ok2)+denied(bad), 0, "")
			t.Logf("%s %s + denied in one send: %s, allowed served %v", m.name, sh.name, firstLine(got, err), logged(s, ok2))
			expectNeverRun(t, s, bad, m.name+" "+sh.name+" with a denied request in the same send ("+firstLine(got, err)+")")
		}
	}
	// Warm connection (BIG TCP still on): a 4 MiB body grows the window,
	// so the client's stack can build GSO skbs over 64 KiB; then, on the
	// same connection, a 1 MiB body with the denied request in the same
	// send. (Those skbs are dropped as ip_header and sent again smaller:
	// 20 MiB took about 30 s.)
	ok, ok2, bad := token("warm"), token("warm2"), token("warmbad")
	big := longBody(ok, 4<<20) + longBody(ok2, 1<<20) + denied(bad)
	got, err := writeThenTo(t, tp, v6, big, 1<<20, "")
	t.Logf("warm big-tcp-v6: %s; first served %v, second served %v; ip_header drops %v",
		firstLine(got, err), logged(s, ok), logged(s, ok2), a.Metric("axon_drops_total", map[string]string{"reason": "ip_header"}))
	expectNeverRun(t, s, bad, "a denied request behind 5 MiB of bodies on a warm BIG TCP connection ("+firstLine(got, err)+")")
	t.Logf("agent reasons: %s", grepReasons(a.Logs.String()))
}

// grepReasons counts the agent's logged decision reasons.
func grepReasons(logs string) string {
	n := map[string]int{}
	for _, l := range strings.Split(logs, "\n") {
		if i := strings.Index(l, " reason="); i >= 0 {
			r := strings.Fields(l[i+8:])[0]
			n[r]++
		}
	}
	return fmt.Sprint(n)
}
