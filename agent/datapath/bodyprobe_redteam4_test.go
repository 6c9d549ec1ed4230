package datapath

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// pySpace: the bytes Python's str.split() splits a line decoded as
// ISO-8859-1 on (LF ends the line before split sees it).
func pySpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0
}

// pyRuns models Python 3.11's BaseHTTPRequestHandler.handle_one_request and
// parse_request on the stream s that follows the outer request's header
// section (the unread body first): whether the first line runs a handler
// (do_X for an uppercase method word X, or HTTP/0.9 GET). eof: the client's
// FIN follows s. Every other outcome sends an error with Connection: close
// (or closes on an empty line), so only the first line matters.
func pyRuns(s string, eof bool) bool {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		if !eof {
			return false // Python waits for the rest of the line
		}
		i = len(s) - 1
	}
	line := s[:i+1]
	if len(line) > 65536 {
		return false // 414
	}
	line = strings.TrimRight(line, "\r\n")
	words := pyFields(line)
	switch len(words) {
	case 2:
		return words[0] == "GET"
	case 3:
		v := words[2]
		if !strings.HasPrefix(v, "HTTP/") {
			return false
		}
		parts := strings.Split(strings.SplitN(v, "/", 2)[1], ".")
		if len(parts) != 2 {
			return false
		}
		major, err1 := strconv.Atoi(parts[0])
		_, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil || major >= 2 {
			return false
		}
		for _, c := range []byte(words[0]) {
			if c < 'A' || c > 'Z' {
				return false
			}
		}
		return true
	}
	return false
}

func pyFields(line string) []string {
	var words []string
	start := -1
	for i := 0; i < len(line); i++ {
		if pySpace(line[i]) {
			if start >= 0 {
				words = append(words, line[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		words = append(words, line[start:])
	}
	return words
}

// TestRedteamBody31Differential (red team, rev28): random bodies built from
// the pieces the probe's states care about, followed by an allowed request
// (directly, after an empty line, or the client's FIN), with a Content-Length
// equal to the body or reaching into what follows; whenever the model of
// Python's http.server above runs the body's first line, the datapath must
// refuse the stream, in one segment and a byte per segment.
func TestRedteamBody31Differential(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	pieces := []string{"GET", "G", "ET", "GE", "T", "PUR", "PURGE", "DELETE", "A", "_", "-",
		" ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\x00",
		"/api/admin", "*", ".", "x", "H", "HTTP", "HTTP/", "HTTP/1.1", "HTTP/1.0", "1.1", "/", "\n", "\r\n"}
	nexts := []string{okReq, "\r\n" + okReq, "\n" + okReq, "\r\n\r\n" + okReq, ""}
	r := rand.New(rand.NewPCG(28, 4))
	fin := func(f *flow, payload string) outcome {
		o, _ := runSegment(t, d.Ingress(), segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpACK | tcpFIN, payload: []byte(payload)})
		if o == passed {
			f.seq += uint32(len(payload))
		}
		return o
	}
	streams := 4000
	if testing.Short() {
		streams = 200 // the kernel matrix's VMs run Go 5-20 times slower
	}
	runs, refusedNotRun, leaks := 0, 0, 0
	for n := 0; n < streams && leaks < 10; n++ {
		var b strings.Builder
		for k := 1 + r.IntN(6); k > 0; k-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		body := b.String()
		next := nexts[r.IntN(len(nexts))]
		eof := next == ""
		extra := 0
		if r.IntN(3) == 0 && len(next) > 0 {
			extra = r.IntN(len(next))
		}
		head := fmt.Sprintf("POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nContent-Length: %d\r\n\r\n", len(body)+extra)
		want := pyRuns(body+next, eof)
		// Whitespace then the allowed request: Python runs the very line
		// the datapath decided.
		if extra == 0 && len(pyFields(body)) == 0 && !strings.Contains(body, "\n") &&
			strings.HasPrefix(next, "GET") {
			want = false
		}
		if want {
			runs++
		}
		send := func(f *flow, s string, last bool) outcome {
			if last && eof {
				return fin(f, s)
			}
			return f.send(s)
		}
		f := newFlow(t, d.Ingress(), web4, orders4)
		one := send(f, head+body+next, true)
		g := newFlow(t, d.Ingress(), web4, orders4)
		split := g.send(head)
		all := body + next
		for i := 0; i < len(all) && split == passed; i++ {
			split = g.send(all[i : i+1])
		}
		if split == passed && eof {
			split = fin(g, "")
		}
		if want && (one != reset || split != reset) {
			leaks++
			t.Errorf("body %q, Content-Length +%d, then %q (FIN %v): one segment %v, a byte per segment %v; Python runs %q",
				body, extra, next, eof, one, split, strings.SplitN(body+next, "\n", 2)[0])
		}
		if !want && one == reset {
			refusedNotRun++
		}
	}
	t.Logf("%d streams Python runs (all must be refused), %d refused that Python would not run", runs, refusedNotRun)
	if runs == 0 {
		t.Fatal("no generated stream is one Python runs: the test checks nothing")
	}
}

// TestRedteamBody31HeaderEnd (red team, rev28): the probe looks where the
// datapath ends the outer header section; Python's parse_headers ends it at
// the first line that is exactly CRLF or LF. Lines Python reads as header
// lines (whitespace only, obs-fold, a CR before CRLF) must not end it for
// the datapath, and a header section that ends with a bare LF must still
// start the probe there; a chunked body's size line (Python ignores
// Transfer-Encoding) must never be a request line (class 23).
func TestRedteamBody31HeaderEnd(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	const denied = "GET /api/admin HTTP/1.1\r\nHost: orders\r\n\r\n"
	cl := fmt.Sprintf("Content-Length: %d", len(denied))
	for _, c := range []struct{ name, stream string }{
		{"bare LF lines", "POST /api/v1/orders HTTP/1.1\nHost: orders\n" + cl + "\n\n" + denied},
		{"whitespace-only line", "POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\n" + cl + "\r\n \r\n\r\n" + denied},
		{"tab-only line", "POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\n" + cl + "\r\n\t\r\n\r\n" + denied},
		{"obs-fold", "POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\n" + cl + "\r\n x\r\n\r\n" + denied},
		{"CR CR LF", "POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\n" + cl + "\r\n\r\r\n" + denied},
		{"chunk line", "POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: chunked\r\n\r\n" + denied},
		{"chunk extension", "POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: chunked\r\n\r\n1;GET /api/admin HTTP/1.1\r\n"},
		{"Expect 100-continue", "POST /api/v1/orders HTTP/1.1\r\nHost: orders\r\nExpect: 100-continue\r\n" + cl + "\r\n\r\n" + denied},
		{"HTTP/1.0 keep-alive", "POST /api/v1/orders HTTP/1.0\r\nHost: orders\r\nConnection: keep-alive\r\n" + cl + "\r\n\r\n" + denied},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFlow(t, d.Ingress(), web4, orders4)
			if o := f.send(c.stream); o != reset {
				t.Errorf("one segment: %v, want reset", o)
			}
			g := newFlow(t, d.Ingress(), web4, orders4)
			last := passed
			for i := 0; i < len(c.stream) && last == passed; i++ {
				last = g.send(c.stream[i : i+1])
			}
			if last != reset {
				t.Errorf("a byte per segment: %v, want reset", last)
			}
		})
	}
}
