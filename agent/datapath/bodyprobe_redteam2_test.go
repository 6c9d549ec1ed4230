package datapath

import (
	"fmt"
	"testing"
)

// TestRedteamBody31Chain (red team, rev26): the class-31 probe reads only
// the start of a Content-Length body and refuses a request line there only
// when its target begins with '/', 'h' or 'H' (or OPTIONS *, CONNECT).
// Python's http.server checks no target: "GET * HTTP/1.1", "GET .
// HTTP/1.1", "GET ?x HTTP/1.1", "GET %2F HTTP/1.1" run as requests and
// keep the connection open (an HTTP/1.1 line; an HTTP/1.0 one with
// "Connection: keep-alive"), and Python then reads the body's next line
// as another request. A body that begins with such a request and carries
// a denied request after it passes; Python 3.11 runs the denied one
// (checked on loopback with the harness's handler). Each body here must be
// refused, as the bodies of TestBodyThatBeginsARequest are.
func TestRedteamBody31Chain(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	const denied = "GET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n"
	firsts := []string{
		"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET . HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET ?x HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET %2Fapi%2Fadmin HTTP/1.1\r\n\r\n",
		"HEAD api HTTP/1.1\r\n\r\n",
		"GET * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	}
	for _, first := range firsts {
		body := first + denied
		t.Run(fmt.Sprintf("%q", first), func(t *testing.T) {
			head := fmt.Sprintf("POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nContent-Length: %d\r\n\r\n", len(body))
			f := newFlow(t, d.Ingress(), web4, orders4)
			if o := f.send(head + body + okReq); o != reset {
				t.Errorf("a body %q: %v, want reset", body, o)
			}
		})
	}
}
