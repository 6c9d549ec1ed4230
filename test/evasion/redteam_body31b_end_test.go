package evasion

import (
	"fmt"
	"testing"
	"time"
)

// TestRedteamBody31EndOtherMethods (red team, rev26): ax_body_end refuses a
// Content-Length body that is the start of one of the nine methods ("DELE",
// completed by the next request's "TE /x" on Python's line), but knows no
// other method, while the first-word rule counts any uppercase word as one
// (PURGE: a handler with do_PURGE runs it). With a rule that denies PURGE
// on /pub and one that allows every method there, an allowed POST whose
// body is "PUR", then "GE /pub/<bad> HTTP/1.1" (method GE: allowed) passes
// the agent, and Python 3.11 reads "PURGE /pub/<bad> HTTP/1.1" and runs
// it. On 10.99.41.0/24.
func TestRedteamBody31EndOtherMethods(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 41)
	tp.policy("Enforce", `  - action: Deny
    http:
    - methods: [PURGE]
      paths:
      - prefix: /pub
  - action: Allow
    http:
    - paths:
      - prefix: /pub
`)
	s := startPythonNoRead(t, tp.srv, pythonPort)
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	ok, bad := token("body31ok"), token("body31bad")
	body := "PUR"
	head := fmt.Sprintf("POST /pub/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\n", ok, len(body))
	next := "GE /pub/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n"
	first, second, err := earlyExchange(t, tp, s.Port(), head, body+next)
	t.Logf("first answer %q, then %q (%v)", firstLine(first, nil), firstLine(second, err), err)
	expectArrived(t, s, ok, "the allowed POST")
	expectNeverRun(t, s, bad, fmt.Sprintf("PURGE /pub/<bad>, from a body %q and a next request %q", body, next))
}
