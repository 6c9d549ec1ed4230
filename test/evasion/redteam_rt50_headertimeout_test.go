package evasion

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestRedteamRt50CookieRebornHeaderTimeout: the silent death without a
// forged segment. An ordinary client (the kernel's TCP, a net.Conn in the
// client pod) that keeps a head open until the server's header timeout
// closes the connection: the server has received the pad (it is not
// dropped), so the flow and the server agree on every byte, and the server
// closes with a FIN (its receive queue is empty). The client's stack, in
// CLOSE_WAIT, still sends what the application writes, at its next byte X
// and acknowledging the server's FIN (ack = C(I) + N + 2, N the server's
// bytes). When the client has sent exactly N + 1 bytes by then (the pad's
// length makes it so), that ACK is the cookie ACK of ISN X-1, and once the
// server's FIN_WAIT2 socket is gone (tcp_fin_timeout, 1 s here) the
// listener opens a connection with it.
//
// Bytes (tcp_syncookies=2, tcp_fin_timeout=1 in the server's namespace):
//
//  1. connect(); write "GET /api/v1/rt50ok-... HTTP/1.1\r\nHost: srv\r\n\r\n"
//     (L bytes); read the response (N bytes).
//  2. write "GET /api/v1/rt50pad-... HTTP/1.1\r\nX-Pad: aaa...": N+1-L bytes.
//  3. Go's ReadHeaderTimeout (10 s here) ends the connection: FIN, read
//     returns EOF; the client's kernel acknowledges it.
//  4. A second later, write "GET /api/admin/rt50bad-... HTTP/1.1\r\nHost:
//     srv\r\n\r\n": X-Pad's value and the end of an allowed head for the
//     datapath, a new connection's request for the server.
//
// nginx's client_header_timeout (60 s) did the same in rt50's review; the
// suite keeps Go's 10 s (Python has no header timeout).
func TestRedteamRt50CookieRebornHeaderTimeout(t *testing.T) {
	t.Parallel()
	tp, srvs := rebornTopo(t, 5, "1")
	for _, s := range srvs[:1] {
		for _, v6 := range []bool{false, true} {
			t.Run(famName(s.Name()+"-", v6), func(t *testing.T) {
				t.Parallel()
				headerTimeoutAttack(t, tp, s, v6)
			})
		}
	}
}

func headerTimeoutAttack(t *testing.T, tp *topo, s server, v6 bool) {
	addr := tp.srvAddr(s.Port())
	if v6 {
		addr = fmt.Sprintf("[%s]:%d", tp.srv6, s.Port())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := tp.cli.DialContext(ctx, "tcp", addr)
	if err != nil {
		// What the datapath counted: the dial failing in full runs is
		// the open question above.
		t.Fatalf("%s: dial %s: %v (agent: %s)", s.Name(), addr, err, metricsSummary(tp.agent))
	}
	defer conn.Close()
	req := request("/api/v1/" + token("rt50ok"))
	_, err = conn.Write(req)
	must(t, err)
	// The whole response: until nothing more comes for 300 ms.
	var resp []byte
	buf := make([]byte, 4096)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := conn.Read(buf)
		resp = append(resp, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !strings.HasPrefix(string(resp), "HTTP/1.1 200") {
		t.Fatalf("%s: allowed request answered %q", s.Name(), resp)
	}
	head := "GET /api/v1/" + token("rt50pad") + " HTTP/1.1\r\nX-Pad: "
	padLen := len(resp) + 1 - len(req)
	if padLen < len(head)+1 {
		t.Fatalf("%s: response too short (%d bytes) for the pad", s.Name(), len(resp))
	}
	pad := head + strings.Repeat("a", padLen-len(head))
	_, err = conn.Write([]byte(pad))
	must(t, err)
	t0 := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(75 * time.Second))
	n, err := conn.Read(buf)
	if err != io.EOF {
		t.Fatalf("%s: waiting for the header timeout: read %q, %v", s.Name(), buf[:n], err)
	}
	t.Logf("%s: the server closed %v after the pad (%d server bytes, %d+%d client bytes)", s.Name(), time.Since(t0).Round(time.Second), len(resp), len(req), len(pad))
	local := conn.LocalAddr().(*net.TCPAddr)
	rc := &rebornConn{tp: tp, f: &Flow{Local: netip.AddrPortFrom(local.AddrPort().Addr().Unmap(), uint16(local.Port))}}
	rc.waitSocketGone(t, s, 5*time.Second)
	bad := token("rt50bad")
	_, err = conn.Write(request("/api/admin/" + bad))
	must(t, err)
	time.Sleep(time.Second)
	expectNeverRun(t, s, bad, "GET /api/admin/"+bad+" written by an ordinary client after the server's header timeout closed the connection (a cookie ACK by construction)")
	if t.Failed() {
		t.Logf("agent: %s", metricsSummary(tp.agent))
	}
}
