package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRedteamBody31OtherMethods: Python's http.server runs any word as a
// method its handler has a do_<word> for: WebDAV handlers built on it
// define do_PROPFIND, do_MKCOL, do_LOCK; cache front-ends do_PURGE. The
// first class-31 probe knew only the nine RFC 9110 methods, and an allowed
// POST whose Content-Length body was "PROPFIND /api/admin/<bad> HTTP/1.1..."
// ran the denied PROPFIND (red team, rev25). The probe now refuses any
// uppercase method word followed by a target. Lowercase words are left out
// (a handler has do_get only by a catch-all __getattr__, as the harness's
// server has; docs/security.md says so). On 10.99.21.0/24.
func TestRedteamBody31OtherMethods(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 21)
	tp.policy("Enforce", "")
	s := startPythonNoRead(t, tp.srv, pythonPort)
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	for _, m := range []string{"PROPFIND", "MKCOL", "PURGE", "VERSION-CONTROL", "GETS"} {
		t.Run(m, func(t *testing.T) {
			ok, bad := token("body31ok"), token("body31bad")
			body := m + " /api/admin/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n"
			head := fmt.Sprintf("POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\n", ok, len(body))
			first, second, err := earlyExchange(t, tp, s.Port(), head, body)
			t.Logf("%s: first answer %q, then %q (%v)", m, firstLine(first, nil), firstLine(second, err), err)
			expectArrived(t, s, ok, "the allowed POST")
			expectNeverRun(t, s, bad, fmt.Sprintf("a denied request in an allowed POST's body %q", strings.TrimSpace(body)))
		})
	}
}
