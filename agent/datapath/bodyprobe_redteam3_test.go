package datapath

import (
	"fmt"
	"testing"
)

// TestRedteamBody31EmptyLineAfter (red team, rev27): a body that is GET
// and a target with no LF ("GET /api/admin", which TestBodyThatBeginsARequest
// lets pass because "the next request line makes four words") ends in the
// probe's target state, which ax_body_end does not refuse. The datapath
// takes an empty line (CRLF or a bare LF) before a request line, so the
// allowed next request may begin with one: Python's http.server then reads
// "GET /api/admin\r\n" as one line, two words, GET: an HTTP/0.9 request it
// runs (do_GET on the denied path), then takes the allowed request line as
// a header. Likewise with whitespace after the target (probe state GAP2).
// Each must be refused, in one segment or a byte per segment.
func TestRedteamBody31EmptyLineAfter(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	head := func(body string) string {
		return fmt.Sprintf("POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nContent-Length: %d\r\n\r\n", len(body))
	}
	for _, c := range []struct{ body, next string }{
		{"GET /api/admin", "\r\n" + okReq},
		{"GET /api/admin", "\n" + okReq},
		{"GET /api/admin ", "\r\n" + okReq},
		{" GET\t/api/admin\x0b", "\n" + okReq},
		{"GET /api/admin", "\r\n\r\n" + okReq},
	} {
		t.Run(fmt.Sprintf("%q then %q", c.body, c.next[:len(c.next)-len(okReq)]), func(t *testing.T) {
			f := newFlow(t, d.Ingress(), web4, orders4)
			if o := f.send(head(c.body) + c.body + c.next); o != reset {
				t.Errorf("in one segment: %v, want reset (Python runs GET %q as HTTP/0.9)", o, c.body)
			}
			g := newFlow(t, d.Ingress(), web4, orders4)
			if o := g.send(head(c.body)); o != passed {
				t.Fatalf("head: %v", o)
			}
			last := passed
			for i := 0; i < len(c.body) && last == passed; i++ {
				last = g.send(c.body[i : i+1])
			}
			if last == passed {
				last = g.send(c.next)
			}
			if last != reset {
				t.Errorf("a byte per segment, then the next request: %v, want reset", last)
			}
		})
	}
}

// TestRedteamBody31FIN (red team, rev27): a Content-Length body that is GET
// and a target with no line end, then the client's FIN (shutdown of its
// write side; it still reads the answer). Python's readline returns
// "GET /api/admin" at the end of the stream: two words, GET, an HTTP/0.9
// request it runs. ax_head_open refuses a FIN after an open request line
// ("a request line ended by FIN" in normalize_test.go), but a body leaves
// the flow in AX_ST_BODY, or, once complete, at AX_R_START, so the FIN
// passes: whether the body is complete or shorter than its Content-Length,
// and whether the FIN comes with the body or after it.
func TestRedteamBody31FIN(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	const body = "GET /api/admin"
	fin := func(f *flow, payload string) outcome {
		o, _ := runSegment(t, d.Ingress(), segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpACK | tcpFIN, payload: []byte(payload)})
		return o
	}
	for _, cl := range []int{len(body), len(body) + 100} {
		head := fmt.Sprintf("POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nContent-Length: %d\r\n\r\n", cl)
		t.Run(fmt.Sprintf("Content-Length %d", cl), func(t *testing.T) {
			f := newFlow(t, d.Ingress(), web4, orders4)
			if o := fin(f, head+body); o != reset {
				t.Errorf("head, body and FIN in one segment: %v, want reset", o)
			}
			g := newFlow(t, d.Ingress(), web4, orders4)
			switch o := g.send(head + body); o {
			case reset:
				return // refused where the body ends, before any FIN
			case passed:
			default:
				t.Fatalf("head and body: %v", o)
			}
			if o := fin(g, ""); o != reset {
				t.Errorf("FIN after the body: %v, want reset (Python runs %q as HTTP/0.9)", o, body)
			}
		})
	}
}
