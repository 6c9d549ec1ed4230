package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRedteamBody31Chain (red team, rev26): the class-31 probe reads only
// the start of a Content-Length body, and refuses a request line there only
// when its target begins with '/', 'h' or 'H' (or OPTIONS *, CONNECT).
// Python's http.server checks no target: "GET * HTTP/1.1", "GET .
// HTTP/1.1", "GET ?x HTTP/1.1", "GET %2F HTTP/1.1" run as requests (the
// harness's handler answers 200; SimpleHTTPRequestHandler answers "." and
// "?x" with a keep-alive 301) and the connection stays open, so Python
// reads the body's next line as one more request. An allowed POST whose
// body is such a request followed by a denied one passes the datapath, and
// Python 3.11 runs the denied request. On 10.99.40.0/24.
func TestRedteamBody31Chain(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 40)
	tp.policy("Enforce", "")
	s := startPythonNoRead(t, tp.srv, pythonPort)
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	firsts := []struct{ name, req string }{
		{"asterisk", "GET * HTTP/1.1\r\nHost: srv\r\n\r\n"},
		{"dot", "GET . HTTP/1.1\r\nHost: srv\r\n\r\n"},
		{"query-only", "GET ?x HTTP/1.1\r\nHost: srv\r\n\r\n"},
		{"escaped-slash", "GET %2F HTTP/1.1\r\nHost: srv\r\n\r\n"},
		{"http10-keepalive", "GET * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
	}
	for _, f := range firsts {
		t.Run(f.name, func(t *testing.T) {
			ok, bad := token("body31ok"), token("body31bad")
			body := f.req + "GET /api/admin/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n"
			head := fmt.Sprintf("POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\n", ok, len(body))
			first, second, err := earlyExchange(t, tp, s.Port(), head, body)
			t.Logf("%s: first answer %q, then %q (%v)", f.name, firstLine(first, nil), firstLine(second, err), err)
			expectArrived(t, s, ok, "the allowed POST")
			expectNeverRun(t, s, bad, fmt.Sprintf("a denied request after %q in an allowed POST's body", strings.TrimSpace(f.req)))
		})
	}
}
