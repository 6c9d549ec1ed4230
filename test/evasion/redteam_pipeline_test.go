package evasion

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRedteamPipelinedAfterBody: an allowed request with a body, then a
// denied one: the datapath must find the second request line where each
// server does (Content-Length on GET, POST with "Expect: 100-continue",
// chunked with an extension and a trailer, HTTP/1.0 keep-alive, empty
// lines between requests). The first request is sent but for its last
// byte; that byte and the denied request follow in a second write (one
// write would be reset whole). The denied request must never run; the
// first one reaches the handler (Go and Python log it when its header
// section is read; nginx logs a request when it ends).
func TestRedteamPipelinedAfterBody(t *testing.T) {
	t.Parallel()
	tp := newTopo95(t, 5)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	firsts := []string{
		"GET /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\n\r\nhello",
		"POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
		"POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"POST /api/v1/%s HTTP/1.0\r\nHost: srv\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
		"GET /api/v1/%s HTTP/1.1\r\nHost: srv\r\n\r\n\r\n\r\n",
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		for i, first := range firsts {
			ok := token("first")
			bad := token("second")
			req := strings.Replace(first, "%s", ok, 1)
			resp, err := exchange2(t, tp, s.Port(), req[:len(req)-1],
				req[len(req)-1:]+"GET /api/admin/"+bad+" HTTP/1.1\r\nHost: srv\r\n\r\n")
			if s.Name() != "nginx" {
				expectArrived(t, s, ok, "the allowed first request")
			}
			expectNeverRun(t, s, bad, "the denied request after body "+itoa(i)+" ("+firstLine(resp, err)+")")
		}
	})
}

// exchange2 sends a and, 50 ms later, b on one connection from the client
// pod and returns what came back.
func exchange2(t *testing.T, tp *topo, port int, a, b string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(port))
	if err != nil {
		t.Fatalf("dialing: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(a)); err != nil {
		return "", err
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Write([]byte(b)); err != nil {
		return "", err
	}
	return readAll(c, 500*time.Millisecond)
}
