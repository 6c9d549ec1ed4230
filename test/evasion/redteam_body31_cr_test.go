package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRedteamBody31CR: the class-31 probe (ax_body_probe) skips the bytes
// Python's str.split() treats as whitespace before the method and stops at
// any other byte, but it leaves out CR. Python's http.server strips only
// the CR and LF that end the line (rstrip('\r\n')), so a CR before the
// method or between the method and the target is whitespace to its split()
// and the line runs as a request. An allowed POST whose Content-Length body
// is "\rGET /api/admin/<bad> HTTP/1.1..." or "GET\r/api/admin/<bad>
// HTTP/1.1..." passes the datapath, and Python 3.11 answers it and runs
// the denied request (checked by hand on loopback). On 10.99.20.0/24.
func TestRedteamBody31CR(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 20)
	tp.policy("Enforce", "")
	s := startPythonNoRead(t, tp.srv, pythonPort)
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	bodies := []struct{ name, body string }{
		{"cr-before-method", "\rGET /api/admin/%s HTTP/1.1\r\nHost: srv\r\n\r\n"},
		{"cr-after-method", "GET\r/api/admin/%s HTTP/1.1\r\nHost: srv\r\n\r\n"},
		{"cr-vt-cr", "\r\x0bGET\r/api/admin/%s\r\x0bHTTP/1.1\r\nHost: srv\r\n\r\n"},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			ok, bad := token("body31ok"), token("body31bad")
			body := strings.Replace(b.body, "%s", bad, 1)
			head := fmt.Sprintf("POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\n", ok, len(body))
			first, second, err := earlyExchange(t, tp, s.Port(), head, body)
			t.Logf("%s: first answer %q, then %q (%v)", b.name, firstLine(first, nil), firstLine(second, err), err)
			expectArrived(t, s, ok, "the allowed POST")
			expectNeverRun(t, s, bad, fmt.Sprintf("a denied request in an allowed POST's body %q", body))
		})
	}
}
