package observe

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type prometheusMetric = prometheus.Metric

func collectAll(c *Collector, ch chan prometheus.Metric) {
	c.Collect(ch)
	close(ch)
	for range ch {
	}
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in     string
		ok           bool
		method, path string
		clen         int64
		next         int
	}{
		{"get", "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", true, "GET", "/a", -1, 32},
		{"post body", "POST /e HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcGET", true, "POST", "/e", 3, 42},
		{"absolute form", "GET http://h:80/p/q#f HTTP/1.1\r\n\r\n", true, "GET", "/p/q", -1, 34},
		{"head cut", "GET /a HTTP/1.1\r\nHost: h", true, "GET", "/a", -1, -1},
		{"chunked", "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc", true, "POST", "/c", -1, -1},
		{"lowercase method", "get / HTTP/1.1\r\n\r\n", false, "", "", 0, 0},
		{"not http", "GET / FTP/1.0\r\n\r\n", false, "", "", 0, 0},
	} {
		h, ok := parseRequest([]byte(tc.in))
		if ok != tc.ok || ok && (h.method != tc.method || h.path != tc.path || h.clen != tc.clen || h.next != tc.next) {
			t.Errorf("%s: got %+v %v", tc.name, h, ok)
		}
	}
}

func TestParseResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		noBody   bool
		status   int
		clen     int64
		next     int
	}{
		{"200", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP", false, 200, 2, 40},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", true, 200, 2, 38},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", false, 204, -1, 27},
		{"close delimited", "HTTP/1.0 200 OK\r\n\r\nbody", false, 200, -1, -1},
		{"100", "HTTP/1.1 100 Continue\r\n\r\n", false, 100, -1, 25},
	} {
		h, ok := parseResponse([]byte(tc.in), tc.noBody)
		if !ok || h.status != tc.status || h.clen != tc.clen || h.next != tc.next {
			t.Errorf("%s: got %+v %v", tc.name, h, ok)
		}
	}
}

// TestHeaderEndMatchesPlainScan checks the one-pass headerEnd against the
// plain definition (find the first empty line, then read every header line
// before it, names lower-cased; both then place the next message with
// messageEnd) on random heads built from pieces that
// stress it: CR and LF alone, colons, spaced and mixed-case names, bad and
// repeated lengths, chunked, cut anywhere.
func TestHeaderEndMatchesPlainScan(t *testing.T) {
	asciiLower := func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	plain := func(b []byte, body, resp bool) (int64, int) {
		clen, chunked := int64(-1), false
		end := bytes.Index(b, []byte("\r\n\r\n"))
		lines := b
		if end >= 0 {
			lines = b[:end]
		}
		for _, line := range bytes.Split(lines, []byte("\r\n")) {
			name, val, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				continue
			}
			// ASCII case only: header names are tokens, and Unicode's
			// lower case would make "Transfer-Encodİng" (U+0130) one.
			switch strings.Map(asciiLower, string(bytes.TrimSpace(name))) {
			case "content-length":
				if n, err := strconv.ParseInt(string(bytes.TrimSpace(val)), 10, 64); err == nil && n >= 0 {
					clen = n
				}
			case "transfer-encoding":
				chunked = true
			}
		}
		return clen, messageEnd(end, clen, chunked, body, resp)
	}
	pieces := []string{"GET /a HTTP/1.1", "HTTP/1.1 200 OK", "\r\n", "\r", "\n", ":", " ", "Host: h",
		"Content-Length: 12", "content-length:7", " CONTENT-LENGTH : 3 ", "Content-Length: -1",
		"Content-Length: x", "Transfer-Encoding: chunked", "transfer-encoding:", "X-A: b:c", "\r\n\r\n",
		"\tContent-Length: 5", "\xc2\xa0Content-Length: 4", "\xc2\x85transfer-encoding: x", "Date: d", "TE: x",
		"cONTENT-lENGTH: 9", "@Content-Length: 2", "Connection: close", "[: ]", "Transfer-Encod\u0130ng: chunked"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		body, resp := rng.IntN(2) == 0, rng.IntN(2) == 0
		gc, gn := headerEnd(b, body, resp)
		wc, wn := plain(b, body, resp)
		if gc != wc || gn != wn {
			t.Fatalf("headerEnd(%q, %v, %v) = %d, %d; want %d, %d", b, body, resp, gc, gn, wc, wn)
		}
	}
}
