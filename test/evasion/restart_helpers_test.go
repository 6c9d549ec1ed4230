package evasion

import (
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
)

// rawConn is a raw connection to one server, opened while an agent
// enforced, and the token of the denied request it carries.
type rawConn struct {
	f   *Flow
	tok string
}

// openRawConns checks the raw path to each of srvs (an allowed raw request
// arrives) and opens one raw connection to each, by server name, with a
// token made from tag.
func openRawConns(t *testing.T, tp *topo, srvs []server, tag string) map[string]rawConn {
	t.Helper()
	conns := map[string]rawConn{}
	for _, s := range srvs {
		tp.rawControl(t, s, false)
		conns[s.Name()] = rawConn{tp.connect(t, s.Port(), false, nil), token(tag)}
	}
	return conns
}

// sendDeniedHead sends, on each of conns, the head of its denied request
// without the empty line that ends it (twins), and lets the servers take it.
func sendDeniedHead(t *testing.T, conns map[string]rawConn) {
	t.Helper()
	for _, c := range conns {
		denied, _ := twins(c.tok)
		must(t, c.f.Data(c.f.ISN+1, denied[:len(denied)-2]))
	}
	time.Sleep(200 * time.Millisecond) // the servers acknowledge the heads
}

// restartOn starts an agent (attach mode, "" for auto; more flags in args)
// on pinDir in front of tp's server, and waits until its table is in force.
func restartOn(t *testing.T, tp *topo, pinDir, mode string, args ...string) *agent {
	t.Helper()
	b := agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: tp.dir, PinDir: pinDir, Ifaces: []string{tp.srv.Port}, Mode: mode, Args: args}, 20*time.Second)
	waitGeneration(t, b, 1, 10*time.Second)
	return b
}

// expectHeldNeverRun checks, on each of srvs after the window the attack
// used (a restart, a program ahead of Axon's), that a new denied request is
// reset, then sends end on the server's connection and
// checks that its denied request never ran (what names the attack).
func expectHeldNeverRun(t *testing.T, tp *topo, srvs []server, conns map[string]rawConn, end func(c rawConn), what string) {
	t.Helper()
	forServers(t, srvs, func(t *testing.T, s server) {
		expectNewDeniedReset(t, tp, s, "after the window")
		c := conns[s.Name()]
		end(c)
		resp, rst := c.f.Response("\r\n\r\n", time.Second)
		expectNeverRun(t, s, c.tok, "GET /api/admin/"+c.tok+" "+what+" ("+describe(resp, rst)+")")
	})
}

// sendAllowedTwin sends, at c's first byte, the allowed request of the
// same length as c's denied one, with the empty line that ends a head.
func sendAllowedTwin(t *testing.T) func(c rawConn) {
	return func(c rawConn) {
		_, allowed := twins(c.tok)
		must(t, c.f.Data(c.f.ISN+1, allowed))
	}
}
