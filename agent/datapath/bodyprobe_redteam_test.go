package datapath

import (
	"fmt"
	"testing"
)

// TestRedteamBodyProbeCR is a class-31 bypass: Python's http.server
// strips only the CR and LF at the end of a line (rstrip('\r\n')) and then
// splits it with str.split(), for which a CR inside the line is whitespace
// like a space. A body that begins with a CR before the method, or has a CR
// between the method and the target, is run as a request by Python 3.11
// (checked: "\rGET /admin HTTP/1.1" and "GET\r/admin HTTP/1.1" both reach
// do_GET with path /admin), yet ax_py_space leaves CR out, so the probe
// stops at it and the body passes. Each must be refused, sent whole or a
// byte per segment.
func TestRedteamBodyProbeCR(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	head := func(body string) string {
		return fmt.Sprintf("POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nContent-Length: %d\r\n\r\n", len(body))
	}
	refused := []string{
		"\rGET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET\r/api/admin HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\x0bDELETE\r/api/v1/orders/7 HTTP/1.1\r\n\r\n",
		"GET\r\r/api/admin\r\r HTTP/1.1\r\n\r\n",
		"\rDELE", // + "TE /api/admin ..." on Python's line
	}
	for _, body := range refused {
		t.Run(fmt.Sprintf("%q", body), func(t *testing.T) {
			f := newFlow(t, d.Ingress(), web4, orders4)
			if o := f.send(head(body) + body + okReq); o != reset {
				t.Errorf("in one segment: %v, want reset", o)
			}
			g := newFlow(t, d.Ingress(), web4, orders4)
			if o := g.send(head(body)); o != passed {
				t.Fatalf("head: %v", o)
			}
			last := passed
			for i := 0; i < len(body) && last == passed; i++ {
				last = g.send(body[i : i+1])
			}
			if last == passed {
				last = g.send(okReq)
			}
			if last != reset {
				t.Errorf("a byte per segment: %v, want reset", last)
			}
		})
	}
}
