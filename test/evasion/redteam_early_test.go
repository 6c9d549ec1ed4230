package evasion

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// Red team, sixth pass: servers that answer a request without reading its
// body. Topologies on 10.99.<n>.0/24 and fd99:<n>::/64.

// newTopo99 is newTopo on 10.99.<n>.0/24 and fd99:<n>::/64, the range of
// the red team's sixth pass.
func newTopo99(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.99", "fd99", n)
}

// startGoNoRead runs Go net/http on port with a handler that answers
// without ever reading the request body (the Go server's log format).
func startGoNoRead(t *testing.T, h *netns.Host, port int) *goServer {
	t.Helper()
	l, err := h.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("listening in %s: %v", h.NS, err)
	}
	s := &goServer{port: port}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.answerUnread),
		ReadHeaderTimeout: 10 * time.Second,
	}
	serveUntilCleanup(t, srv, l)
	return s
}

// startPythonNoRead is the harness's Python server with a handler that,
// like most do_GET handlers written on http.server, never reads a body.
func startPythonNoRead(t *testing.T, h *netns.Host, port int) server {
	t.Helper()
	return startPython(t, h, port, "noread")
}

// earlyCase is one way of sending a denied request where an allowed
// request's body belongs: head is the allowed request's head (%s: its
// marker, %d: its Content-Length, given the denied request's length), then
// the test reads the server's first answer and sends body (%s: the denied
// request).
type earlyCase struct {
	name string
	head string
	cl   func(denied int) int
	body string
}

var earlyCases = []earlyCase{
	{"expect-cl-exact", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
		func(n int) int { return n }, "%s"},
	{"cl-exact-no-expect", "GET /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\n",
		func(n int) int { return n }, "%s"},
	{"expect-cl-300k", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
		func(int) int { return 300 << 10 }, "%s"},
	{"cl-300k-no-expect", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\n",
		func(int) int { return 300 << 10 }, "%s"},
	{"expect-chunked", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
		nil, "%s"},
	{"expect-chunked-abandoned", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
		nil, "10\r\n0123456789abcdef\r\n%s"},
}

// TestRedteamEarlyResponseBody: a server that answers a request without
// reading its body (nginx's "return 200", a Go handler that never reads
// r.Body, a Python http.server handler that never reads rfile) with
// "Expect: 100-continue" or without, Content-Length as long as the denied
// request or 300 KiB (over Go's 256 KiB discard limit), or chunked. After
// the server's first answer (its 100, or its final response), the client
// sends a denied request where the body belongs. The datapath skips those
// bytes as body; the denied request must not run on any server.
//
// Found: Python's http.server never drains a body its handler did not read;
// it reads the next request line where the body starts. "GET /api/v1/<tok>
// HTTP/1.1" with "Content-Length: 47" (the denied request's length), then
// "GET /api/admin/<bad> HTTP/1.1\r\nHost: srv\r\n\r\n" as its body: the
// datapath skipped the 47 bytes as body (allowed), Python answered 200
// twice and ran GET /api/admin/<bad>. Same with "Expect: 100-continue"
// (Python sends its 100 before the handler runs) and with Content-Length
// 300 KiB (the body is still open; Python parses what came), and from
// plain curl ("-X GET --data-binary @file", the file holding the denied
// request: one write, curl sees 200). Go (discards
// up to 256 KiB, else closes) and nginx (discards the body) held; chunked
// bodies whose data is a request line are reset (malformed chunk size).
func TestRedteamEarlyResponseBody(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 1)
	tp.policy("Enforce", "")
	srvs := []server{startGoNoRead(t, tp.srv, goPort), startNginx(t, tp.srv, nginxPort), startPythonNoRead(t, tp.srv, pythonPort)}
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, c := range earlyCases {
			t.Run(c.name, func(t *testing.T) {
				ok, bad := token("early"), token("earlybad")
				denied := "GET /api/admin/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n"
				head := strings.Replace(c.head, "%s", ok, 1)
				if c.cl != nil {
					head = strings.Replace(head, "%d", fmt.Sprint(c.cl(len(denied))), 1)
				}
				body := strings.Replace(c.body, "%s", denied, 1)
				first, second, err := earlyExchange(t, tp, s.Port(), head, body)
				t.Logf("%s %s: first answer %q, then %q (%v)", s.Name(), c.name, firstLine(first, nil), firstLine(second, err), err)
				if s.Name() != "nginx" {
					expectArrived(t, s, ok, "the allowed first request")
				}
				expectNeverRun(t, s, bad, "a denied request sent as the body of "+c.name+" after the server's answer "+
					firstLine(first, nil)+" (then "+firstLine(second, err)+")")
			})
		}
		// The same from an ordinary client: curl sending the denied
		// request as the body of an allowed GET (one write, no Expect).
		t.Run("curl-data-binary", func(t *testing.T) {
			bad := token("curlbad")
			body := filepath.Join(t.TempDir(), "body")
			must(t, os.WriteFile(body, []byte("GET /api/admin/"+bad+" HTTP/1.1\r\nHost: srv\r\n\r\n"), 0o644))
			got := curl(t, tp.cli, "http://"+tp.srvAddr(s.Port())+"/api/v1/"+token("curl"), "-sS", "-o", "/dev/null",
				"-w", "%{http_code}", "-X", "GET", "--data-binary", "@"+body)
			expectNeverRun(t, s, bad, "curl -X GET --data-binary with a denied request as the body (curl: "+got+")")
		})
	})
}

// earlyExchange sends head, reads the server's first answer (up to 1 s),
// sends body and returns both answers.
func earlyExchange(t *testing.T, tp *topo, port int, head, body string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(port))
	if err != nil {
		t.Fatalf("dialing: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(head)); err != nil {
		return "", "", err
	}
	first, err := readAll(c, time.Second)
	if err != nil {
		return first, "", err
	}
	if _, err := c.Write([]byte(body)); err != nil {
		return first, "", err
	}
	second, err := readAll(c, time.Second)
	return first, second, err
}
