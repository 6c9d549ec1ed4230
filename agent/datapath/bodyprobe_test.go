package datapath

import (
	"fmt"
	"strings"
	"testing"
)

// TestBodyThatBeginsARequest is class 31: a server that answers without
// reading a request's body and does not discard it (Python's http.server,
// whose handlers rarely read a GET's body) reads the body as its next
// request. An allowed POST whose Content-Length body's first line would run
// there (split on Python's whitespace: an uppercase method word, a target
// and a word starting "HTTP/", or GET and a target) is refused, sent whole
// or a byte per segment; so is a body that ends in its first word, which
// the next request's line would continue on Python's line ("DELE" then
// "TE /admin"). Other bodies pass, and so does the request after them.
func TestBodyThatBeginsARequest(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	head := func(body string) string {
		return fmt.Sprintf("POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nContent-Length: %d\r\n\r\n", len(body))
	}
	refused := []string{
		"GET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /api/admin\n", // two words, GET: Python runs HTTP/0.9
		"DELETE\t/api/v1/orders/7 HTTP/1.1\r\n\r\n",
		" \t\x0bPOST /x HTTP/1.1\r\n\r\n",
		"OPTIONS\xa0* HTTP/1.1\r\n\r\n",
		"CONNECT\x1fx:1 HTTP/1.1\r\n\r\n",
		"HEAD\x85/ HTTP/1.0\r\n\r\n",
		// Any target: Python checks none ("GET . HTTP/1.1" keeps the
		// connection for the next line; red team, rev26).
		"GET * HTTP/1.1\r\nHost: x\r\n\r\nGET /api/admin HTTP/1.1\r\n\r\n",
		"GET . HTTP/1.1\r\n\r\n",
		"GET ?x HTTP/1.1\r\n\r\n",
		"GET %2Fapi%2Fadmin HTTP/1.1\r\n\r\n",
		"HEAD api HTTP/1.1\r\n\r\n",
		"GET * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		// Other methods a handler may have (do_PROPFIND, do_PURGE, ...).
		"PROPFIND /api/admin HTTP/1.1\r\n\r\n",
		"VERSION-CONTROL /x HTTP/1.1\r\n\r\n",
		"PURGE http://orders/api/admin HTTP/1.1\r\n\r\n",
		// CR: Python strips only the line's end, and str.split() splits
		// on a CR inside it (red team, rev25).
		"\rGET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET\r/api/admin HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\x0bDELETE\r/api/v1/orders/7 HTTP/1.1\r\n\r\n",
		"GET\r\r/api/admin\r\r HTTP/1.1\r\n\r\n",
		// A body that ends in its first word: the next request line
		// continues it on Python's line ("DELE" + "TE /x HTTP/1.1").
		"DELE",
		"  GE",
		"\rDELE",
		"P",
		"GET",
		"YES",
		// GET and a target: an empty line before the next request, or the
		// end of the stream, ends Python's line there (red team, rev27).
		"GET /api/admin",
		"GET key ",
	}
	passing := []string{
		`{"order": 7}`,
		"get /x HTTP/1.1\r\n\r\n",     // no do_get but in a catch-all handler (security.md)
		"\r\nGET /x HTTP/1.1\r\n\r\n", // Python ends the connection at an empty line
		"item=GET /x",
		"G3T /x HTTP/1.1\r\n\r\n",
		"GET /x HTTPS/1.1\r\n\r\n", // Python: a bad version, 400
		"GET /x HTTP\r\n\r\n",
		"GET /x y HTTP/1.1\r\n\r\n", // four words: 400
		"OPTIONS x",
		strings.Repeat("A", 33) + " /x HTTP/1.1\r\n\r\n", // longer than a method word
		// Query languages and text.
		"DELETE DATA { <a> <b> <c> }",
		"DELETE FROM t WHERE id = 7",
		"SELECT * FROM t",
		"I have a question",
		"OK here it is",
		"HI Hannah",
		"NOTE /tmp is full",
		"ERROR http://x failed",
		"A\thello",
	}
	check := func(body string, want outcome) {
		t.Run(fmt.Sprintf("%v %q", want, body), func(t *testing.T) {
			f := newFlow(t, d.Ingress(), web4, orders4)
			if o := f.send(head(body) + body + okReq); o != want {
				t.Errorf("in one segment: %v, want %v", o, want)
			}
			// A byte per segment, then the next request: the first
			// outcome that is not passed, or passed.
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
			if last != want {
				t.Errorf("a byte per segment, then the next request: %v, want %v", last, want)
			}
		})
	}
	for _, body := range refused {
		check(body, reset)
	}
	for _, body := range passing {
		check(body, passed)
	}
}
