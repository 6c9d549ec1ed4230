package evasion

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
	"github.com/axon-dev/axon/test/netns"
)

// Red team rt29: servers never differentially tested before, Node.js
// (http.createServer, llhttp) and HAProxy as the pod's own front.
// Topologies on 10.83.<n>.0/24 and fd83:<n>::/64.

func newTopo83(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.83", "fd83", n)
}

// nodeServer is the smallest Node.js application: http.createServer with a
// handler that logs "METHOD URL -> PATHNAME" (PATHNAME: new URL(req.url,
// base).pathname, what a router matches) of every request it runs and
// answers 200. It has no 'upgrade' listener, as most applications (an
// Express app, a plain handler) do not.
const nodeServer = `const http = require('http'), fs = require('fs');
const [port, logpath, host] = [+process.argv[2], process.argv[3], process.argv[4] || '::'];
const srv = http.createServer((req, res) => {
  let p; try { p = new URL(req.url, 'http://localhost').pathname; } catch (e) { p = '?'; }
  fs.appendFileSync(logpath, req.method + ' ' + req.url + ' -> ' + p + '\n');
  res.end('ok\n');
});
srv.listen(port, host);
`

// startNode runs Node.js (the harness's nodeServer) in h on port, bound to
// host ("::" when empty).
func startNode(t *testing.T, h *netns.Host, port int, host string) server {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not installed (make deps installs it)")
	}
	dir := t.TempDir()
	s := &fileServer{name: "node", port: port, logPath: filepath.Join(dir, "requests.log")}
	script := filepath.Join(dir, "server.js")
	must(t, os.WriteFile(script, []byte(nodeServer), 0o644))
	args, addr := []string{script, fmt.Sprint(port), s.logPath}, h.Addr.String()
	if host != "" {
		args = append(args, host)
	}
	if host != "" && host != "::" {
		addr = host
	}
	startDaemonOn(t, h, addr, port, "", bin, args...)
	return s
}

// haproxyServer is HAProxy as the pod's own front: it listens on the
// policed port and forwards to a Node backend on 127.0.0.1:<backend> inside
// the pod. Its log is the backend's (what HAProxy forwarded and the
// application ran).
type haproxyServer struct {
	port    int
	backend server
	out     *agentproc.SyncBuffer // HAProxy's output: its log
}

func (s *haproxyServer) Name() string   { return "haproxy" }
func (s *haproxyServer) Port() int      { return s.port }
func (s *haproxyServer) Log() []string  { return s.backend.Log() }
func (s *haproxyServer) Access() string { return s.out.String() }

func startHAProxy(t *testing.T, h *netns.Host, port, backendPort int) *haproxyServer {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		skipOrFail(t, "haproxy is not installed (make deps installs it)")
	}
	be := startNode(t, h, backendPort, "127.0.0.1")
	dir := t.TempDir()
	conf := fmt.Sprintf(`global
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend fe
  bind :::%d v4v6
  default_backend be
backend be
  server s1 127.0.0.1:%d
`, port, backendPort)
	confPath := filepath.Join(dir, "haproxy.cfg")
	must(t, os.WriteFile(confPath, []byte(conf), 0o644))
	out := startDaemonOn(t, h, h.Addr.String(), port, "", bin, "-db", "-f", confPath)
	return &haproxyServer{port: port, backend: be, out: out}
}

// exchangeN sends each part on one connection from the client pod, 300 ms
// apart (so that each is a read of its own for the server), and returns
// what came back.
func exchangeN(t *testing.T, tp *topo, port int, parts ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(port))
	if err != nil {
		t.Fatalf("dialing: %v", err)
	}
	defer c.Close()
	for i, p := range parts {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		if _, err := c.Write([]byte(p)); err != nil {
			return "", err
		}
	}
	return readAll(c, 700*time.Millisecond)
}

// metricsSummary is the agent's decision and drop counters, for the log.
// forNodeFronts runs fn on Node (on goPort) and on HAProxy in front of a
// Node backend (on nginxPort), in tp's server pod under the Enforce policy
// and an agent, once the plain denied request is reset there (the
// control).
func forNodeFronts(t *testing.T, tp *topo, fn func(t *testing.T, a *agent, s server)) {
	t.Helper()
	tp.policy("Enforce", "")
	nd := startNode(t, tp.srv, goPort, "")
	hp := startHAProxy(t, tp.srv, nginxPort, 9000)
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	forServers(t, []server{nd, hp}, func(t *testing.T, s server) {
		ctl := token("ctlbad")
		resp, err := exchangeN(t, tp, s.Port(), "GET /api/admin/"+ctl+" HTTP/1.1\r\nHost: srv\r\n\r\n")
		t.Logf("%s control (denied): %q (%v)", s.Name(), firstLine(resp, err), err)
		expectNeverRun(t, s, ctl, "the plain denied request (control)")
		fn(t, a, s)
	})
}

func metricsSummary(a *agent) string {
	_, body, err := a.Get("/metrics")
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, l := range strings.Split(body, "\n") {
		if (strings.HasPrefix(l, "axon_policy_decisions_total") || strings.HasPrefix(l, "axon_drops_total")) && !strings.HasSuffix(l, " 0") {
			b.WriteString(l + "; ")
		}
	}
	return b.String()
}

// nodeUpgradeCases are allowed websocket upgrade requests (%s: the marker)
// with bytes behind them in the same segment, which the datapath keeps
// parsing as HTTP: a GET as the connection's first request, a POST with a
// Content-Length body (Node drops what follows the body), and an upgrade
// as the connection's second request.
var nodeUpgradeCases = []struct{ name, head string }{
	{"get-first", "GET /api/v1/%s HTTP/1.1\r\nHost: srv\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
	{"post-body", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nConnection: upgrade\r\nUpgrade: websocket\r\n" +
		"Content-Length: 5\r\n\r\nhello"},
	{"second-request", "GET /api/v1/%s-0 HTTP/1.1\r\nHost: srv\r\n\r\n" +
		"GET /api/v1/%s HTTP/1.1\r\nHost: srv\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
}

// TestRedteamNodeUpgradeDropsRest: Node.js without an 'upgrade' listener
// runs a request with "Connection: Upgrade" and "Upgrade: websocket" as an
// ordinary request (200), but its parser (llhttp) has paused for the
// upgrade at the end of that request's header section and Node throws away
// the rest of the bytes it read with it. The next read is parsed from a
// fresh request line.
//
// The client writes, in one segment, an allowed websocket upgrade request
// (GET /api/v1/<ok>: with bytes behind it, the datapath kept parsing HTTP)
// followed by the start of a second allowed request
// whose last header line is left open ("GET /api/v1/<hidden>
// HTTP/1.1\r\nX-Pad: "). 300 ms later it writes "GET /api/admin/<bad>
// HTTP/1.1\r\nHost: srv\r\n\r\n". The datapath reads "GET /api/admin/<bad>
// HTTP/1.1" as the value of X-Pad and "Host: srv" as the next header of the
// allowed request /api/v1/<hidden>: nothing is denied. Node never saw the
// hidden request (dropped with the upgrade read) and runs GET
// /api/admin/<bad>. Class 32: bytes behind an upgrade in its segment, an
// upgrade later in a connection and one with a body are refused. The
// legitimate use still works on both servers: the upgrade alone, then,
// after Node's ordinary answer, another request on the same connection.
func TestRedteamNodeUpgradeDropsRest(t *testing.T) {
	t.Parallel()
	tp := newTopo83(t, 1)
	forNodeFronts(t, tp, func(t *testing.T, a *agent, s server) {
		// The upgrade alone, then another request once it is answered.
		up, next := token("uponly"), token("next")
		resp, err := exchangeN(t, tp, s.Port(), strings.ReplaceAll(nodeUpgradeCases[0].head, "%s", up),
			"GET /api/v1/"+next+" HTTP/1.1\r\nHost: srv\r\n\r\n")
		t.Logf("%s upgrade alone, then a request: %q (%v)", s.Name(), resp, err)
		expectArrived(t, s, up, "an allowed upgrade request alone")
		expectArrived(t, s, next, "an allowed request after the upgrade's answer")

		for _, c := range nodeUpgradeCases {
			t.Run(c.name, func(t *testing.T) {
				ok, hidden, bad := token("up"), token("hidden"), token("upbad")
				first := strings.ReplaceAll(c.head, "%s", ok) + "GET /api/v1/" + hidden + " HTTP/1.1\r\nX-Pad: "
				second := "GET /api/admin/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n"
				resp, err := exchangeN(t, tp, s.Port(), first, second)
				t.Logf("%s: answers %q (%v); agent: %s", s.Name(), resp, err, metricsSummary(a))
				if hp, isHP := s.(*haproxyServer); isHP {
					t.Logf("haproxy log:\n%s", hp.Access())
				}
				t.Logf("%s log:\n%s", s.Name(), strings.Join(s.Log(), "\n"))
				expectNeverRun(t, s, bad, "a denied request sent after an allowed websocket upgrade request ("+c.name+
					") and the head of a second request")
			})
		}
	})
}
