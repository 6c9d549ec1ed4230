package evasion

import (
	"strings"
	"testing"
	"time"
)

// Red team rt48: framing and header differentials against Node.js (llhttp)
// and HAProxy in front of Node. Topologies on 10.63.<n>.0/24 and
// fd63:<n>::/64.

func newTopo63(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.63", "fd63", n)
}

// rt48Firsts are allowed requests (or heads) whose framing llhttp or
// HAProxy might read differently from the datapath; a denied request
// follows each, in the same write and in a second write.
var rt48Firsts = []struct{ name, first string }{
	{"cl-long-zeros", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 00000000000000000000000000005\r\n\r\nhello"},
	{"cl-dup-case", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello"},
	{"cl-ows", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length:   5   \r\n\r\nhello"},
	{"cl-zero-body", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 0\r\n\r\n"},
	{"get-cl-body", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\n\r\nhello"},
	{"head-cl-body", "HEAD /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\n\r\nhello"},
	{"te-gzip-chunked", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	{"te-identity-chunked", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	{"te-two-lines", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	{"te-upper", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	{"te-ows", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding:\t chunked \t\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	{"chunk-zeros", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n0000\r\n\r\n"},
	{"chunk-upper", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"},
	{"chunk-ext", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c\r\nhello\r\n0;x\r\n\r\n"},
	{"chunk-ext-ws", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a = b\r\nhello\r\n0\r\n\r\n"},
	{"chunk-bws", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5\t \r\nhello\r\n0\r\n\r\n"},
	{"trailer", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 40\r\nX-T: 1\r\n\r\n"},
	{"trailer-te", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{"http10-cl", "POST /api/v1/a HTTP/1.0\r\nHost: srv\r\nContent-Length: 5\r\n\r\nhello"},
	{"http10-ka", "GET /api/v1/a HTTP/1.0\r\nHost: srv\r\nConnection: keep-alive\r\n\r\n"},
	{"http10-ka-cl", "POST /api/v1/a HTTP/1.0\r\nHost: srv\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello"},
	{"conn-close", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\nConnection: close\r\n\r\n"},
	{"conn-close-ka", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\nConnection: close, keep-alive\r\n\r\n"},
	{"conn-upgrade-only", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\nConnection: upgrade\r\n\r\n"},
	{"lf-end", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\n\n"},
	{"lf-head", "GET /api/v1/a HTTP/1.1\nHost: srv\n\n"},
	{"empty-value", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\nX-A:\r\nX-B: \t\r\n\r\n"},
	{"obs-text", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\nX-A: \xff\xfe\x80\r\n\r\n"},
	{"odd-name", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\n!#$%&'*+-.^_`|~: x\r\n\r\n"},
	{"abs-port", "GET http://srv:80/api/v1/a HTTP/1.1\r\nHost: other\r\n\r\n"},
	{"abs-noport", "GET http://srv:/api/v1/a HTTP/1.1\r\nHost: srv\r\n\r\n"},
	{"abs-userinfo", "GET http://u:p@srv/api/v1/a HTTP/1.1\r\nHost: srv\r\n\r\n"},
	{"no-host", "GET /api/v1/a HTTP/1.1\r\n\r\n"},
	{"two-hosts", "GET /api/v1/a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
	{"options-star", "OPTIONS * HTTP/1.1\r\nHost: srv\r\n\r\n"},
	{"connect-origin", "CONNECT /api/v1/a HTTP/1.1\r\nHost: srv\r\n\r\n"},
	{"leading-crlf", "\r\n\r\nGET /api/v1/a HTTP/1.1\r\nHost: srv\r\n\r\n\r\n"},
	{"leading-lf", "\nGET /api/v1/a HTTP/1.1\r\nHost: srv\r\n\r\n\n"},
	{"expect-cl", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"},
	{"cl-big-no-body", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 99999999999\r\n\r\n"},
	{"te-chunked-http10-ka", "POST /api/v1/a HTTP/1.0\r\nHost: srv\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	{"te-cl", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{"keepalive-header-close", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\nKeep-Alive: timeout=1\r\nProxy-Connection: close\r\n\r\n"},
	{"trailer-upgrade", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nConnection: Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nUpgrade: websocket\r\n\r\n"},
	{"trailer-conn-upgrade", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
	{"trailer-conn-close", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nConnection: close\r\n\r\n"},
	{"proxy-conn-upgrade", "GET /api/v1/a HTTP/1.1\r\nHost: srv\r\nProxy-Connection: Upgrade\r\n\r\n"},
	{"http10-upgrade-header-less", "GET /api/v1/a HTTP/1.0\r\nHost: srv\r\nConnection: keep-alive, Upgrade\r\n\r\n"},
	{"te-identity", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: identity\r\n\r\n"},
	{"expect-other", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nExpect: foo\r\nContent-Length: 5\r\n\r\nhello"},
	{"delete-cl", "DELETE /api/v1/a HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\n\r\nhello"},
	{"patch-chunked-ext-eq", "PATCH /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5;=\r\nhello\r\n0\r\n\r\n"},
	{"chunk-ext-empty-name", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5;;\r\nhello\r\n0\r\n\r\n"},
	{"trailer-empty-value", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX:\r\n\r\n"},
	{"trailer-obs-text", "POST /api/v1/a HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: \xff\r\n\r\n"},
}

// TestRedteamRT48Battery (red team rt48, held): each first request, then a
// denied GET /api/admin/<tok>, in one write and in two writes (300 ms
// apart, two reads for the server); the control has an allowed second
// request. On Node (llhttp 9.3, v20) and on HAProxy 2.6 in front of Node
// no denied request ran: where the server reads the second request line,
// the datapath does too and resets it, and every framing the datapath
// refuses (TE with CL, TE on HTTP/1.0, TE "identity", Upgrade behind a
// body) is reset before the server runs anything. Framings the servers
// refuse themselves (duplicate CL and bare LF on Node, TE lists on HAProxy,
// trailers naming Content-Length or Connection: close on Node) end the
// connection there, so fewer requests run than the datapath decided.
func TestRedteamRT48Battery(t *testing.T) {
	t.Parallel()
	tp := newTopo63(t, 1)
	forNodeFronts(t, tp, func(t *testing.T, a *agent, s server) {
		for _, c := range rt48Firsts {
			ok := token("ok-" + c.name)
			resp, _ := exchange(t, tp.cli, tp.srvAddr(s.Port()), c.first+"GET /api/v1/"+ok+" HTTP/1.1\r\nHost: srv\r\n\r\n", 400*time.Millisecond)
			served := logged(s, ok)
			bad := token("bad-" + c.name)
			resp2, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), c.first+"GET /api/admin/"+bad+" HTTP/1.1\r\nHost: srv\r\n\r\n", 400*time.Millisecond)
			bad2 := token("bad2-" + c.name)
			resp3, err3 := exchangeN(t, tp, s.Port(), c.first, "GET /api/admin/"+bad2+" HTTP/1.1\r\nHost: srv\r\n\r\n")
			t.Logf("%s %s: control %q (second served: %v); one write %s; two writes %s", s.Name(), c.name,
				strings.Join(statusLines(resp), " | "), served, strings.Join(statusLines(resp2), " | ")+errs(err), strings.Join(statusLines(resp3), " | ")+errs(err3))
			expectNeverRun(t, s, bad, c.name+" (one write)")
			expectNeverRun(t, s, bad2, c.name+" (two writes)")
		}
		if h, isHP := s.(*haproxyServer); isHP {
			t.Logf("haproxy log:\n%s", h.Access())
		}
		t.Logf("%s log:\n%s\nagent: %s", s.Name(), strings.Join(s.Log(), "\n"), metricsSummary(a))
	})
}

func statusLines(resp string) []string {
	var out []string
	for _, l := range strings.Split(resp, "\n") {
		if strings.HasPrefix(l, "HTTP/") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func errs(err error) string {
	if err != nil {
		return " (" + err.Error() + ")"
	}
	return ""
}

// TestRedteamRT48UpgradeExpect (held): an allowed websocket upgrade that
// also says "Expect: 100-continue" (no body). Node answers "100 Continue"
// first, which resumes the datapath's HTTP parsing, then runs the upgrade
// as an ordinary request (no 'upgrade' listener) and drops what it read
// behind it. The client then writes the head of an allowed request left
// open in a header value, then a denied request line: both readers see the
// denied line as that header's value, because Node's drop ends with the
// read that held the upgrade, before the 100 reached the client.
func TestRedteamRT48UpgradeExpect(t *testing.T) {
	t.Parallel()
	tp := newTopo63(t, 2)
	forNodeFronts(t, tp, func(t *testing.T, a *agent, s server) {
		up, hidden, bad := token("upx"), token("hid"), token("upxbad")
		resp, err := exchangeN(t, tp, s.Port(),
			"GET /api/v1/"+up+" HTTP/1.1\r\nHost: srv\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n"+
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			"GET /api/v1/"+hidden+" HTTP/1.1\r\nHost: srv\r\nX-Pad: ",
			"GET /api/admin/"+bad+" HTTP/1.1\r\nHost: srv\r\n\r\n")
		t.Logf("%s: %q (%v); agent: %s", s.Name(), strings.Join(statusLines(resp), " | "), err, metricsSummary(a))
		t.Logf("%s log:\n%s", s.Name(), strings.Join(s.Log(), "\n"))
		expectNeverRun(t, s, bad, "a denied request line after an upgrade answered 100 Continue")
	})
}
