package evasion

import (
	"strings"
	"testing"
	"time"
)

// TestRedteamFramingBattery (red team rt41, held): one write holding an
// allowed request whose framing servers might read differently from the
// datapath, then a denied one (GET /api/admin/<tok>). If the datapath
// found the second request line where a server does, it resets the
// segment (or refuses the odd framing) and nothing runs; if it read the
// bytes as a body or as something else, the server runs the denied request.
// Control: the same write with an allowed second request is served whole
// (the second request's marker reaches Go and Python).
func TestRedteamFramingBattery(t *testing.T) {
	t.Parallel()
	tp := newTopo41(t, 3)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	firsts := map[string]string{
		"dup-cl-leading-zero": "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\nhello",
		"cl-tab-ws":           "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length:\t5\t\r\n\r\nhello",
		"post-lf-crlf":        "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\n\r\nhello\n\r\n",
		"post-many-crlf":      "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n\r\n\r\n\r\n",
		"http10-keepalive":    "POST /api/v1/a HTTP/1.0\r\nHost: srv\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
		"chunk-ext-ws":        "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a=b\t;c\r\nhello\r\n0\r\n\r\n",
		"lf-only-head":        "POST /api/v1/a HTTP/1.1\nHost: srv\nContent-Length: 5\n\nhello",
		"abs-form-host-q":     "GET http://srv?x/api/admin HTTP/1.1\r\nHost: srv\r\n\r\n",
		"query-py-space":      "GET /api/v1/q?\x85 HTTP/1.1\r\nHost: srv\r\n\r\n",
		"te-two-lines":        "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		for name, first := range firsts {
			ok := token("ok-" + name)
			resp, _ := exchange(t, tp.cli, tp.srvAddr(s.Port()), first+"GET /api/v1/"+ok+" HTTP/1.1\r\nHost: srv\r\n\r\n", 400*time.Millisecond)
			served := logged(s, ok)
			bad := token("bad-" + name)
			resp2, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), first+"GET /api/admin/"+bad+" HTTP/1.1\r\nHost: srv\r\n\r\n", 400*time.Millisecond)
			t.Logf("%s %s: control %q (second request served: %v); attack %s", s.Name(), name, firstLine(resp, nil), served, firstLine(resp2, err))
			expectNeverRun(t, s, bad, name+": GET /api/admin/"+bad+" behind "+strings.SplitN(first, "\r\n", 2)[0])
		}
	})
}
