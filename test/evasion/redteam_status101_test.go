package evasion

import (
	"context"
	"strings"
	"testing"
	"time"
)

// newTopo96 is newTopo on 10.96.<n>.0/24 and fd96:<n>::/64, the range of
// the red team's third pass (the status 101 test).
func newTopo96(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.96", "fd96", n)
}

// TestRedteamStatus101NotATunnel: the reply program turns a connection into
// an unparsed tunnel when the server's first response bytes are "HTTP/1.1
// 101 " after a first request carrying "Upgrade: websocket". But a status
// line is not a protocol switch: Go's net/http sends a handler's
// WriteHeader(101) as a final response and goes on reading HTTP requests
// on the connection. An application that lets the client choose its status
// (httpbin's /status/{code}; the harness's Go server has it under
// /api/v1/status/) answers an allowed "GET /api/v1/status/101" with
// "Upgrade: websocket" with a bare 101, and every request after it on that
// connection passed unparsed: "GET /api/admin/<tok>" ran.
//
// A server that switches says so in its 101 (RFC 9110 7.8: it must send
// Upgrade; RFC 6455 4.2.2: "Upgrade: websocket"), and Go's handler above
// sends none: the flow must stay HTTP. Control: after the same bare 101, an
// allowed request on a new connection is still served (parsing resumed).
func TestRedteamStatus101NotATunnel(t *testing.T) {
	t.Parallel()
	tp := newTopo96(t, 1)
	tp.policy("Enforce", "")
	srvs := tp.servers("go")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	s := srvs[0]
	const upgrade = "GET /api/v1/status/101 HTTP/1.1\r\nHost: srv\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	open := func(t *testing.T) (interface {
		Write([]byte) (int, error)
		Close() error
	}, func() (string, error)) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(goPort))
		must(t, err)
		if _, err := c.Write([]byte(upgrade)); err != nil {
			t.Fatalf("writing the upgrade: %v", err)
		}
		head, err := readAll(c, 2*time.Second)
		if !strings.HasPrefix(head, "HTTP/1.1 101") {
			c.Close()
			t.Fatalf("GET /api/v1/status/101: got %q (%v), want the handler's 101", head, err)
		}
		return c, func() (string, error) { return readAll(c, 2*time.Second) }
	}

	// Control: the denied request without the trick is refused.
	direct := token("direct")
	got, err := exchange(t, tp.cli, tp.srvAddr(goPort), "GET /api/admin/"+direct+" HTTP/1.1\r\nHost: srv\r\n\r\n", 2*time.Second)
	expectNever(t, s, direct, "GET /api/admin on a plain connection (got "+firstLine(got, err)+")")

	c, read := open(t)
	defer c.Close()
	tok := token("status101")
	_, _ = c.Write([]byte("GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\n\r\n"))
	got, err = read()
	expectNever(t, s, tok, "GET /api/admin after a bare 101 (got "+firstLine(got, err)+")")

	c2, read2 := open(t)
	defer c2.Close()
	ok := token("after101")
	_, _ = c2.Write([]byte("GET /api/v1/" + ok + " HTTP/1.1\r\nHost: srv\r\n\r\n"))
	got, err = read2()
	if !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("an allowed request after a bare 101: got %q (%v), want 200", firstLine(got, err), err)
	}
	expectArrived(t, s, ok, "an allowed request after a bare 101")
}
