package evasion

import (
	"fmt"
	"strings"
	"testing"
)

// TestRedteamBody31EmptyLineAfter (red team, rev27): an allowed GET
// /api/v1/index.html whose Content-Length body is "GET /api/admin/<f>" with
// no line end, followed by an allowed request that begins with an empty
// line (CRLF, which the datapath skips before a request line). The class-31
// probe ends the body in its target state and passes it; Python 3.11's
// stock SimpleHTTPRequestHandler (HTTP/1.1) reads "GET /api/admin/<f>\r\n":
// two words, GET, an HTTP/0.9 request it runs, and sends the denied file.
// The file's content must never reach the client. On 10.99.60.0/24.
func TestRedteamBody31EmptyLineAfter(t *testing.T) {
	t.Parallel()
	tp, s, bad, secret := staticTopo(t, 60, "body31cbad")
	next := "GET /api/v1/index.html HTTP/1.1\r\nHost: srv\r\n\r\n"
	for _, c := range []struct{ name, body, sep string }{
		{"crlf", "GET /api/admin/%s", "\r\n"},
		{"lf", "GET /api/admin/%s", "\n"},
		{"space-crlf", "GET /api/admin/%s ", "\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := strings.Replace(c.body, "%s", bad, 1)
			head := fmt.Sprintf("GET /api/v1/index.html HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\n", len(body))
			first, second, err := earlyExchange(t, tp, s.Port(), head, body+c.sep+next)
			t.Logf("%s: first answer %q, then %q (%v); server log %q", c.name, firstLine(first, nil), firstLine(second, err), err, s.Log())
			if strings.Contains(first+second, secret) {
				t.Errorf("LEAK: the denied file /api/admin/%s reached the client through the body %q then %q", bad, body, c.sep)
			}
		})
	}
}
