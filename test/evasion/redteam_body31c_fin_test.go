package evasion

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRedteamBody31FIN (red team, rev27): an allowed GET /api/v1/index.html
// whose Content-Length body is "GET /api/admin/<f>" with no line end,
// then the client's FIN (CloseWrite: it still reads). The agent refuses a
// FIN after an open request line but not after, or inside, a body; Python
// 3.11's stock SimpleHTTPRequestHandler (HTTP/1.1) reads the body's line at
// the end of the stream, two words, GET: an HTTP/0.9 request it runs, and
// it sends the denied file. With the body complete, and with a
// Content-Length larger than what is sent. On 10.99.61.0/24.
func TestRedteamBody31FIN(t *testing.T) {
	t.Parallel()
	tp, s, bad, secret := staticTopo(t, 61, "body31cfin")
	body := "GET /api/admin/" + bad
	for _, extra := range []int{0, 100} {
		t.Run(fmt.Sprintf("Content-Length+%d", extra), func(t *testing.T) {
			head := fmt.Sprintf("GET /api/v1/index.html HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\n", len(body)+extra)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(s.Port()))
			must(t, err)
			defer c.Close()
			_, err = c.Write([]byte(head + body))
			must(t, err)
			_ = c.(*net.TCPConn).CloseWrite()
			resp, err := readAll(c, time.Second)
			t.Logf("answer %q (%v); server log %q", firstLine(resp, nil), err, s.Log())
			if strings.Contains(resp, secret) {
				t.Errorf("LEAK: the denied file /api/admin/%s reached the client through the body %q and a FIN", bad, body)
			}
		})
	}
}
