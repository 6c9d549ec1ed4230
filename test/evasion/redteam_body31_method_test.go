package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRedteamBody31OtherMethods: the class-31 probe refuses a body that
// begins with one of the nine RFC 9110 methods, but Python's http.server
// runs any word as a method its handler has a do_<word> for: WebDAV
// handlers built on it define do_PROPFIND, do_MKCOL, do_LOCK; cache
// front-ends do_PURGE; the harness's server (like any handler with a
// __getattr__ for do_*) answers every word, lowercase too. An allowed POST
// whose Content-Length body is "PROPFIND /api/admin/<bad> HTTP/1.1..."
// passes the datapath and Python runs the denied PROPFIND (the policy
// denies /api/admin to every method). The probe's own tests list
// "PROPFIND /x" and "get /x" as passing bodies, so this is the limit of the
// fix's design rather than a slip: closing it means refusing any body whose
// first line reads as "<token> <target> HTTP/x.y" (or two words with
// GET), not a fixed method list. On 10.99.21.0/24.
func TestRedteamBody31OtherMethods(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 21)
	tp.policy("Enforce", "")
	s := startPythonNoRead(t, tp.srv, pythonPort)
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	for _, m := range []string{"PROPFIND", "MKCOL", "PURGE", "get", "delete"} {
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
