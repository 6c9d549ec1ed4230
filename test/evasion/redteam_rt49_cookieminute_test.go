package evasion

import (
	"testing"
	"time"
)

// TestRedteamRt49SynCookieMinute: class 18 (TestRedteamSynCookieSecondSYN)
// is closed by the check that client data acknowledges no server byte past
// the flow's srv_nxt. Within one minute a Linux SYN cookie is the 4-tuple's
// hash plus the client's ISN plus terms that depend only on the cookie
// minute, so a SYN with a higher ISN always draws a higher cookie, and the
// client of the connection the flow does not follow always acknowledges
// "too much". Across a cookie-minute boundary the cookie jumps by about
// 2^24 (count << 24), and a cookie of the previous minute (still valid for
// two minutes) is lower than the current one although its ISN is higher.
//
// Bytes on the wire (server answering with SYN cookies: a SYN flood, or
// net.ipv4.tcp_syncookies=2):
//
//  1. SYN seq=I2 (=I1+L) in minute m: cookie SYN-ACK seq=C2, ack=I2+1.
//  2. SYN seq=I1 (resent every 300 ms) until the cookie minute turns (the
//     SYN-ACK's seq is no longer C2-L): SYN-ACK seq=C1 ack=I1+1; the flow is
//     replaced and starts at I1+1 with srv_nxt=C1+1, and C2 < C1.
//  3. ACK seq=I1+1 ack=C1+1, L bytes "GET /api/v1/<ok> HTTP/1.1\r\nX-Pad: aaa"
//     with a bad TCP checksum: parsed (allowed line, header under way),
//     dropped by the server.
//  4. ACK seq=I2+1 ack=C2+1: "GET /api/admin/<bad> HTTP/1.1\r\nHost: srv\r\n\r\n".
//     For the datapath: the rest of the X-Pad value and the end of the
//     allowed head (C2+1 is below srv_nxt, no desync). For the server: the
//     cookie ACK of SYN I2 (cookie C2, one minute old, valid), the first
//     bytes of a new connection: it runs GET /api/admin/<bad>.
//
// Closed (class 37): a client's ACK below the server's first byte
// (ISN + 1) is refused like one past its last, so step 4 is reset; the
// variant whose ACK equals the flow's own is known open (docs/security.md).
func TestRedteamRt49SynCookieMinute(t *testing.T) {
	t.Parallel()
	tp := newTopo62(t, 2)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_syncookies=2")
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	conns := map[string]*cookieConn{}
	for _, s := range srvs {
		// Controls: an allowed raw request is served, a denied one is
		// reset, and the attack within one cookie minute is refused
		// (class 18: the data acknowledges past srv_nxt).
		tp.rawControl(t, s, false)
		tp.rawDenied(t, s, "rt49ckplain")
		sameMinute(t, tp, s)
		for _, v6 := range []bool{false, true} {
			c := &cookieConn{ok: token("rt49ckok"), bad: token("rt49ckbad")}
			c.pad = []byte("GET /api/v1/" + c.ok + " HTTP/1.1\r\nX-Pad: aaa")
			c.f = tp.rawFlow(s.Port(), v6)
			t.Cleanup(c.f.Abort)
			c.i1 = c.f.ISN
			c.i2 = c.i1 + uint32(len(c.pad))
			var err error
			c.c2, err = synFor(c.f, c.i2, 3*time.Second)
			must(t, err)
			conns[famName(s.Name(), v6)] = c
		}
	}
	waitCookieMinute(t, conns, func(_ string, c *cookieConn) uint32 {
		c1, err := synFor(c.f, c.i1, 2*time.Second)
		must(t, err)
		return c1
	})
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, v6 := range []bool{false, true} {
			t.Run(famName("", v6), func(t *testing.T) { cookieMinuteAttack(t, s, conns[famName(s.Name(), v6)]) })
		}
	})
}

type cookieConn struct {
	f              *Flow
	i1, i2, c1, c2 uint32
	pad            []byte
	ok, bad        string
}

func famName(n string, v6 bool) string {
	if v6 {
		return n + "ipv6"
	}
	return n + "ipv4"
}

// waitCookieMinute asks each connection's listener again for the cookie
// of SYN I1 (answer returns it) until the cookie minute has turned for all
// (the SYN-ACK is no longer C2-L), and records it as C1.
func waitCookieMinute(t *testing.T, conns map[string]*cookieConn, answer func(name string, c *cookieConn) uint32) {
	t.Helper()
	deadline := time.Now().Add(75 * time.Second)
	for {
		turned := true
		for name, c := range conns {
			c.c1 = answer(name, c)
			if c.c1 == c.c2-uint32(len(c.pad)) {
				turned = false
			}
		}
		if turned {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cookie minute never turned")
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// cookieMinuteAttack sends the pad and the denied head (sendCookieAttack)
// and checks the head never ran. Across most boundaries C2 < C1 (the lower
// ACK bound decides); when the new minute's term makes C2 > C1, the upper
// bound does.
func cookieMinuteAttack(t *testing.T, s server, c *cookieConn) {
	t.Logf("%s: I1=%d I2=%d C1=%d C2=%d C2-C1=%d", s.Name(), c.i1, c.i2, c.c1, c.c2, int32(c.c2-c.c1))
	resp, rst := sendCookieAttack(t, c)
	t.Logf("%s: %s", s.Name(), describe(resp, rst))
	expectNeverRun(t, s, c.bad, "GET /api/admin/"+c.bad+" sent on cookie I2 (minute m) after SYN I1 (minute m+1) moved the flow ("+describe(resp, rst)+")")
}

// sendCookieAttack sends the pad at I1+1 with a bad checksum (the
// datapath parses it, the server drops it), then the denied head at I2+1
// acknowledging cookie C2, and returns the answer.
func sendCookieAttack(t *testing.T, c *cookieConn) (string, bool) {
	t.Helper()
	must(t, c.f.Send(Segment{Seq: c.i1 + 1, Ack: c.c1 + 1, Flags: ACK | PSH, Payload: c.pad, BadChecksum: true}))
	time.Sleep(20 * time.Millisecond)
	c.f.adopt(c.i2, c.c2)
	must(t, c.f.Data(c.i2+1, request("/api/admin/"+c.bad)))
	return c.f.Response("\r\n\r\n", 700*time.Millisecond)
}

// sameMinute is the attack with both SYNs in one cookie minute: C2 = C1+L,
// and the datapath refuses the data (it acknowledges past srv_nxt). A run
// that straddles a minute boundary is refused too (below srv_isn+1).
func sameMinute(t *testing.T, tp *topo, s server) {
	t.Helper()
	c := &cookieConn{bad: token("rt49smbad")}
	c.pad = []byte("GET /api/v1/" + token("rt49smok") + " HTTP/1.1\r\nX-Pad: aaa")
	c.f = tp.rawFlow(s.Port(), false)
	defer c.f.Abort()
	c.i1 = c.f.ISN
	c.i2 = c.i1 + uint32(len(c.pad))
	var err error
	c.c2, err = synFor(c.f, c.i2, 3*time.Second)
	must(t, err)
	c.c1, err = synFor(c.f, c.i1, 3*time.Second)
	must(t, err)
	if c.c1 != c.c2-uint32(len(c.pad)) {
		t.Logf("%s: same-minute control straddled a minute boundary", s.Name())
	}
	resp, rst := sendCookieAttack(t, c)
	t.Logf("%s same-minute control: %s", s.Name(), describe(resp, rst))
	if !rst {
		t.Errorf("%s: same-minute control not reset: %s", s.Name(), describe(resp, rst))
	}
	expectNeverRun(t, s, c.bad, "same-minute control")
}

// TestRedteamRt49SynCookieMinuteFlood is TestRedteamRt49SynCookieMinute
// with Linux's default net.ipv4.tcp_syncookies=1: spoofed SYNs fill each
// listener's SYN queue (fillSynQueue), and the server answers the
// attacker's SYNs with cookies while the flood's half-open entries last
// (a queue of young entries is pruned after two SYN-ACK retries, about
// 7 s, so the flood is repeated before each SYN).
func TestRedteamRt49SynCookieMinuteFlood(t *testing.T) {
	t.Parallel()
	tp := newTopo62(t, 3)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	conns := map[string]*cookieConn{}
	for _, s := range srvs {
		tp.rawControl(t, s, false)
	}
	for _, s := range srvs {
		c := &cookieConn{bad: token("rt49flbad")}
		c.pad = []byte("GET /api/v1/" + token("rt49flok") + " HTTP/1.1\r\nX-Pad: aaa")
		c.f = tp.rawFlow(s.Port(), false)
		t.Cleanup(c.f.Abort)
		c.i1 = c.f.ISN
		c.i2 = c.i1 + uint32(len(c.pad))
		tp.fillSynQueue(t, s.Port(), 6000)
		before := tp.tcpExt("SyncookiesSent")
		var err error
		c.c2, err = synFor(c.f, c.i2, 3*time.Second)
		must(t, err)
		if tp.tcpExt("SyncookiesSent") == before {
			t.Fatalf("%s: SYN I2 not answered with a cookie", s.Name())
		}
		conns[s.Name()] = c
	}
	waitCookieMinute(t, conns, func(name string, c *cookieConn) uint32 {
		// Linux prunes a full queue of young entries after two SYN-ACK
		// retries (about 7 s): fill it again.
		tp.fillSynQueue(t, int(c.f.Remote.Port()), 6000)
		before := tp.tcpExt("SyncookiesSent")
		c1, err := synFor(c.f, c.i1, 2*time.Second)
		must(t, err)
		if tp.tcpExt("SyncookiesSent") == before {
			t.Fatalf("%s: SYN I1 not answered with a cookie (the flood's entries expired)", name)
		}
		return c1
	})
	forServers(t, srvs, func(t *testing.T, s server) { cookieMinuteAttack(t, s, conns[s.Name()]) })
}
