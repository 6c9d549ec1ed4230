package evasion

import (
	"testing"
	"time"
)

// TestRedteamConnectAbsoluteForm: the datapath reduces an absolute-form
// target "http://host/p" to the path /p whatever the method. Go's
// net/http reads the target of a CONNECT request that does not start with
// '/' as an authority: it prepends "http://" and parses that, so
// "CONNECT http://api/admin/<tok>" has the authority "http:" and the path
// "//api/admin/<tok>" (readRequest, net/http/request.go). The datapath
// decides /admin/<tok>, which "Deny prefix /api/admin" does not match and
// "Allow prefix /" does; the handler reads //api/admin/<tok>, which is
// non-canonical (denied for any other method), and every handler that
// cleans its path (http.FileServer serves path.Clean(r.URL.Path)) serves
// /api/admin/<tok>. The test's Go server logs path.Clean(r.URL.Path).
//
// Bytes (one write from an ordinary socket):
//
//	CONNECT http://api/admin/<tok> HTTP/1.1\r\nHost: srv\r\n\r\n
//
// nginx refuses CONNECT itself (not tested here: it logs the line with its
// error status).
func TestRedteamConnectAbsoluteForm(t *testing.T) {
	t.Parallel()
	tp := newTopo94(t, 2)
	tp.policy("Enforce", `  - action: Allow
    from:
    - podSelector:
        matchLabels:
          app: cli
    http:
    - paths:
      - prefix: /
`)
	srvs := tp.servers("go")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, target := range []string{"http://api/admin/%s", "HTTP://api/admin/%s", "https://api/admin/%s"} {
			tok := token("connect")
			line := "CONNECT " + replaceTok(target, tok) + " HTTP/1.1"
			resp, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), line+"\r\nHost: srv\r\n\r\n", 300*time.Millisecond)
			control(t, tp, s)
			expectNever(t, s, tok, line+" ("+firstLine(resp, err)+")")
			if d := explainDecision(t, tp, s.Port(), line); d != "deny" {
				t.Errorf("axon policy explain %q: decision %q, want deny (what the datapath must do)", line, d)
			}
		}
	})
}

func replaceTok(s, tok string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '%' && s[i+1] == 's' {
			return s[:i] + tok + s[i+2:]
		}
	}
	return s
}
