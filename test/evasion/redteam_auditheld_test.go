package evasion

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// TestRedteamAuditDecidedRequestHeldAcrossEnforce: the datapath decides a
// request at the space after its target, before the server holds it whole.
// On an Audit-only endpoint a request Enforce would deny is counted there
// (audit_deny) and the rest of it passes. The attacker sends the request
// line during Audit and holds the header section back until the endpoint
// is enforced: the server reads the whole request, and runs it, under the
// enforced policy, which denies it (class 22 for one request instead of a
// stream).
//
// Bytes (one connection, ordinary socket): during Audit
// "GET /api/admin/<tok> HTTP/1.1\r\n"; after the switch to Enforce
// "Host: srv\r\n\r\n".
func TestRedteamAuditDecidedRequestHeldAcrossEnforce(t *testing.T) {
	t.Parallel()
	tp := newTopo95(t, 3)
	tp.policy("Audit", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	toks := map[string]string{}
	conns := map[string]func(string) (string, error){}
	for _, s := range srvs {
		tok := token("held")
		toks[s.Name()] = tok
		conns[s.Name()] = holdRequest(t, tp, s, "GET /api/admin/"+tok+" HTTP/1.1\r\n")
	}
	time.Sleep(100 * time.Millisecond)
	tp.policy("Enforce", "")
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		resp, err := conns[s.Name()]("Host: srv\r\n\r\n")
		tok := toks[s.Name()]
		expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" whose line was sent during Audit and its headers after the switch to Enforce ("+firstLine(resp, err)+")")
	})
}

// TestRedteamDecidedRequestHeldAcrossPolicyChange: class 28 with a policy
// change instead of a mode switch. The datapath decides a request at the
// space after its target; the server runs it once its header section is
// whole. The attacker sends an allowed request line, holds the headers
// while the operator adds a Deny for that path (an incident response, say),
// then sends them: the server runs a request the policy in force denies.
//
// Bytes (one connection, ordinary socket): "GET /api/v1/held/<tok>
// HTTP/1.1\r\n" while only the base rules are in force (cli may GET
// /api/...), then, once "Deny prefix /api/v1/held" is applied,
// "Host: srv\r\n\r\n".
func TestRedteamDecidedRequestHeldAcrossPolicyChange(t *testing.T) {
	t.Parallel()
	tp := newTopo95(t, 4)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	toks := map[string]string{}
	conns := map[string]func(string) (string, error){}
	// The same for a path the change leaves allowed: it is served.
	for _, s := range srvs {
		for _, p := range []string{"held", "still"} {
			tok := token(p)
			toks[s.Name()+p] = tok
			conns[s.Name()+p] = holdRequest(t, tp, s, "GET /api/v1/"+p+"/"+tok+" HTTP/1.1\r\n")
		}
	}
	time.Sleep(100 * time.Millisecond)
	tp.policy("Enforce", denyHeld)
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		expectHeldPathReset(t, tp, s)
		resp, err := conns[s.Name()+"held"]("Host: srv\r\n\r\n")
		tok := toks[s.Name()+"held"]
		expectNeverRun(t, s, tok, "GET /api/v1/held/"+tok+" whose line was sent before the Deny and its headers after ("+firstLine(resp, err)+")")
		resp, err = conns[s.Name()+"still"]("Host: srv\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 200") {
			t.Errorf("a held request the change leaves allowed: got %q (%v), want 200", firstLine(resp, err), err)
		}
		expectArrived(t, s, toks[s.Name()+"still"], "a held request the change leaves allowed")
	})
}

// denyHeld is the rule the class 29 tests apply while requests for
// /api/v1/held/... are held.
const denyHeld = `  - action: Deny
    http:
    - paths:
      - prefix: /api/v1/held
`

// expectHeldPathReset checks that a new request for /api/v1/held, which
// denyHeld denies, is reset at server s.
func expectHeldPathReset(t *testing.T, tp *topo, s server) {
	t.Helper()
	if got := curl(t, tp.cli, "http://"+tp.srvAddr(s.Port())+"/api/v1/held/"+token("ctl")); got != "reset" {
		t.Errorf("a new request for the newly denied path: got %s, want reset", got)
	}
}

// holdRequest opens a connection from the client pod to server s, sends
// the start of a request (its line) and returns a function that sends the
// rest and reads what comes back.
func holdRequest(t *testing.T, tp *topo, s server, start string) func(rest string) (string, error) {
	t.Helper()
	c := openHeld(t, tp, tp.cli, s, start)
	return func(rest string) (string, error) {
		if _, err := c.Write([]byte(rest)); err != nil {
			return "", err
		}
		return readAll(c, 500*time.Millisecond)
	}
}

// openHeld connects from host from to server s, sends start and returns
// the connection (closed when t ends) for the rest.
func openHeld(t *testing.T, tp *topo, from *netns.Host, s server, start string) *net.TCPConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := from.DialContext(ctx, "tcp", tp.srvAddr(s.Port()))
	cancel()
	must(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = c.Write([]byte(start))
	must(t, err)
	return c.(*net.TCPConn)
}
