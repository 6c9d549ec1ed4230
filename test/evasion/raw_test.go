package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// request is a complete GET for target with a Host header.
func request(target string) []byte {
	return []byte("GET " + target + " HTTP/1.1\r\nHost: srv\r\n\r\n")
}

// twins returns a denied request for /api/admin/<tok> and an allowed one
// for /api/v1/... of exactly the same length: the pair a client swaps when
// it makes Axon parse one copy of a byte range and the server take another.
func twins(tok string) (denied, allowed []byte) {
	denied = request("/api/admin/" + tok)
	allowed = request("/api/v1/" + strings.Repeat("a", len(tok)+3))
	if len(denied) != len(allowed) {
		panic("twins differ in length")
	}
	return denied, allowed
}

// connect performs the handshake of a raw flow to port (IPv4 or IPv6); the
// connection is reset at cleanup.
func (tp *topo) connect(t *testing.T, port int, v6 bool, synData []byte) *Flow {
	t.Helper()
	f := tp.rawFlow(port, v6)
	if err := f.Handshake(synData, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Abort)
	return f
}

// rawControl sends an allowed request over a fresh raw flow, plainly, and
// checks that the server logged it: the raw machinery itself works and the
// attacker's pod is allowed.
func (tp *topo) rawControl(t *testing.T, s server, v6 bool) {
	t.Helper()
	f := tp.connect(t, s.Port(), v6, nil)
	ctl := token("/api/v1/raw-control")
	if err := f.Data(f.ISN+1, request(ctl)); err != nil {
		t.Fatal(err)
	}
	if resp, rst := f.Response("\r\n\r\n", 2*time.Second); !strings.HasPrefix(resp, "HTTP/1.1 200") {
		t.Errorf("%s: raw control request: response %q, reset %v", s.Name(), resp, rst)
	}
	expectArrived(t, s, ctl, "the allowed raw control request")
}

// rawDenied sends a denied request over an ordinary raw connection to s
// and expects it reset and never run (marker from tag).
func (tp *topo) rawDenied(t *testing.T, s server, tag string) {
	t.Helper()
	f := tp.connect(t, s.Port(), false, nil)
	den := token(tag)
	must(t, f.Data(f.ISN+1, request("/api/admin/"+den)))
	if resp, rst := f.Response("\r\n\r\n", 2*time.Second); !rst {
		t.Errorf("%s: plain denied request not reset: %s", s.Name(), describe(resp, rst))
	}
	expectNeverRun(t, s, den, "GET /api/admin/... over a plain handshake")
}

// forServers runs fn as a subtest per server.
func forServers(t *testing.T, srvs []server, fn func(t *testing.T, s server)) {
	for _, s := range srvs {
		t.Run(s.Name(), func(t *testing.T) { fn(t, s) })
	}
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func describe(resp string, rst bool) string {
	if i := strings.Index(resp, "\r\n"); i >= 0 {
		resp = resp[:i]
	}
	return fmt.Sprintf("server answered %q, reset %v", resp, rst)
}
