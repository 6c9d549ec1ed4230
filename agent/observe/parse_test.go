package observe

import (
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
