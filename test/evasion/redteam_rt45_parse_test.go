package evasion

import (
	"strings"
	"testing"
	"time"
)

// Red team rt45: parse differentials between the datapath's reading of a
// request target and what real servers route on. Topologies on
// 10.66.<n>.0/24 and fd66:<n>::/64.

func newTopo66(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.66", "fd66", n)
}

// routedPaths returns the pathnames (after " -> ") of the server log lines
// that hold marker: what the server's router matched.
func routedPaths(s server, marker string) []string {
	var out []string
	for _, l := range s.Log() {
		if !strings.Contains(l, marker) {
			continue
		}
		if _, p, ok := strings.Cut(l, " -> "); ok {
			out = append(out, strings.TrimSpace(p))
		}
	}
	return out
}

// TestRedteamRT45EmptyAuthority: an absolute-form target with an empty
// authority, "http:///api/api/admin/<bad>". The datapath removes
// "http://" and the (empty) authority up to the next '/', and decides the
// path "/api/api/admin/<bad>": not under the Deny prefix /api/admin, under
// the Allow prefix /api, so it passes. Node.js (llhttp accepts the target)
// hands req.url to the WHATWG URL parser, as every Node router does (the
// harness's "new URL(req.url, base).pathname"); for a special scheme the
// WHATWG parser skips every '/' (and '\') after "http:" before the
// authority ("special authority ignore slashes state"), so the authority is
// "api" and the pathname "/api/admin/<bad>": the denied path runs. Go
// (url.ParseRequestURI: empty host, path "/api/api/admin/...") and Python
// (urlsplit) read it as the datapath does. HAProxy as the pod's front
// forwards the target unchanged to its Node backend, which runs it alike.
// Closed (class 36): an absolute-form authority must name a host, in RFC
// 3986 characters, or the request is non_canonical_path; the test checks
// that the request is reset and never reaches Node.
func TestRedteamRT45EmptyAuthority(t *testing.T) {
	t.Parallel()
	tp := newTopo66(t, 1)
	forNodeFronts(t, tp, func(t *testing.T, a *agent, s server) {
		// Controls: an allowed request, in origin form and in absolute
		// form with an authority, runs.
		ok, okAbs := token("ok"), token("okabs")
		resp, err := exchangeN(t, tp, s.Port(), "GET /api/v1/"+ok+" HTTP/1.1\r\nHost: srv\r\n\r\n")
		t.Logf("control (allowed): %s", firstLine(resp, err))
		expectArrived(t, s, ok, "an allowed request (control)")
		resp, err = exchangeN(t, tp, s.Port(), "GET http://srv/api/v1/"+okAbs+" HTTP/1.1\r\nHost: srv\r\n\r\n")
		t.Logf("control (allowed, absolute form): %s", firstLine(resp, err))
		expectArrived(t, s, okAbs, "an allowed absolute-form request (control)")

		for _, c := range []struct{ name, target string }{
			{"http", "http:///api/api/admin/%s"},
			{"HTTPS", "HTTPS:///api/api/admin/%s"},
		} {
			t.Run(c.name, func(t *testing.T) {
				bad := token("emptyauth")
				target := strings.ReplaceAll(c.target, "%s", bad)
				resp, err := exchangeN(t, tp, s.Port(), "GET "+target+" HTTP/1.1\r\nHost: srv\r\n\r\n")
				t.Logf("GET %s: %s; agent: %s", target, firstLine(resp, err), metricsSummary(a))
				time.Sleep(150 * time.Millisecond)
				if h, isHP := s.(*haproxyServer); isHP {
					t.Logf("haproxy log:\n%s", h.Access())
				}
				t.Logf("%s log:\n%s", s.Name(), strings.Join(s.Log(), "\n"))
				for _, p := range routedPaths(s, bad) {
					if strings.HasPrefix(p, "/api/admin") {
						t.Errorf("LEAK %s: %q ran with the pathname %q (Deny prefix /api/admin); the datapath decided %q",
							s.Name(), target, p, "/api/api/admin/"+bad)
					}
				}
			})
		}
	})
}
