package evasion

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRedteamHeldHeadAcrossAgentRestart (held): an allowed request line is
// sent, the agent is killed (SIGKILL), a Deny for that path is added to the
// folder while no agent runs, a new agent adopts the pins and applies it;
// then the held header section is sent. The request must be decided again
// where its head ends (class 29), by the table the new agent applied.
// A second connection holds a request line cut in the middle of its target
// across the restart.
func TestRedteamHeldHeadAcrossAgentRestart(t *testing.T) {
	t.Parallel()
	heldAcrossRestart(t, 2, nil)
}

// TestRedteamHeldHeadAcrossResizingRestart (held): the same, the new agent
// started with other map sizes (it replaces the pinned decision maps,
// agent/README.md "Restarting the agent with other sizes").
func TestRedteamHeldHeadAcrossResizingRestart(t *testing.T) {
	t.Parallel()
	heldAcrossRestart(t, 5, []string{"--max-path-rows", "4096", "--max-source-classes", "4096", "--max-pod-ips", "1024"})
}

func heldAcrossRestart(t *testing.T, n int, args []string) {
	tp, srvs, a := lifeTopo(t, n)
	toks := map[string]string{}
	conns := map[string]func(string) (string, error){}
	for _, s := range srvs {
		tok := token("held")
		toks[s.Name()+"hdr"] = tok
		conns[s.Name()+"hdr"] = holdRequest(t, tp, s, "GET /api/v1/held/"+tok+" HTTP/1.1\r\n")
		tok = token("mid")
		toks[s.Name()+"mid"] = tok
		conns[s.Name()+"mid"] = holdRequest(t, tp, s, "GET /api/v1/he")
	}
	time.Sleep(100 * time.Millisecond)
	a.Kill()
	tp.policy("Enforce", denyHeld)
	restartOn(t, tp, a.PinDir, "", args...)
	forServers(t, srvs, func(t *testing.T, s server) {
		expectHeldPathReset(t, tp, s)
		ok := token("ok")
		if got := curl(t, tp.cli, "http://"+tp.srvAddr(s.Port())+"/api/v1/ok/"+ok); got != "200" {
			t.Errorf("control: an allowed request after the restart: got %s, want 200", got)
		}
		tok := toks[s.Name()+"hdr"]
		resp, err := conns[s.Name()+"hdr"]("Host: srv\r\n\r\n")
		expectNeverRun(t, s, tok, "held head across restart ("+firstLine(resp, err)+")")
		tok = toks[s.Name()+"mid"]
		resp, err = conns[s.Name()+"mid"]("ld/" + tok + " HTTP/1.1\r\nHost: srv\r\n\r\n")
		expectNeverRun(t, s, tok, "request line cut across restart ("+firstLine(resp, err)+")")
	})
}

// TestRedteamClientRelabelledMidConnection (held): the client pod cli-0 is
// relabelled from app=cli (allowed to GET /api/...) to app=other (the
// default Deny) while it holds two keep-alive connections: one with an
// allowed request line whose header section is held back, one that served
// a request before the relabel and sends another after it. Both must be
// refused by the identity in force when the server would run them.
func TestRedteamClientRelabelledMidConnection(t *testing.T) {
	t.Parallel()
	tp, srvs, a := lifeTopo(t, 4)
	toks := map[string]string{}
	held := map[string]func(string) (string, error){}
	keep := map[string]func(string) (string, error){}
	for _, s := range srvs {
		tok := token("relheld")
		toks[s.Name()+"held"] = tok
		held[s.Name()] = holdRequest(t, tp, s, "GET /api/v1/"+tok+" HTTP/1.1\r\n")
		first := token("relfirst")
		keep[s.Name()] = holdRequest(t, tp, s, "GET /api/v1/"+first+" HTTP/1.1\r\n")
		resp, err := keep[s.Name()]("Host: srv\r\n\r\n")
		if len(resp) < 12 || resp[:12] != "HTTP/1.1 200" {
			t.Fatalf("%s: control before the relabel: %q %v", s.Name(), firstLine(resp, err), err)
		}
		expectArrived(t, s, first, "the allowed request before the relabel")
	}
	tp.write("cluster.yaml", replaceNth(tp.clusterYAML(), "app: cli\n", "app: other\n", 1))
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		tok := toks[s.Name()+"held"]
		resp, err := held[s.Name()]("Host: srv\r\n\r\n")
		expectNeverRun(t, s, tok, "a held allowed head ended after the client's relabel ("+firstLine(resp, err)+")")
		tok = token("relnext")
		resp, err = keep[s.Name()]("GET /api/v1/" + tok + " HTTP/1.1\r\nHost: srv\r\n\r\n")
		expectNeverRun(t, s, tok, "the next keep-alive request after the relabel ("+firstLine(resp, err)+")")
	})
}

// replaceNth replaces the n-th (1-based) occurrence of old in s.
func replaceNth(s, old, new string, n int) string {
	i := -1
	for ; n > 0; n-- {
		j := strings.Index(s[i+1:], old)
		if j < 0 {
			return s
		}
		i += 1 + j
	}
	return s[:i] + new + s[i+len(old):]
}

// TestRedteamStaleFlowAcrossRecreatedVeth (held): the server pod's veth is
// deleted and created again with the same names and addresses (new ifindex,
// new MAC); the server's sockets live on in its namespace. A connection
// opened before holds the head of a denied request sent while nothing was
// attached to the new device; once the agent has re-attached, the allowed
// copy plus "\r\n" at the connection's first byte must be refused: the
// flow belongs to the old device (no_flow).
func TestRedteamStaleFlowAcrossRecreatedVeth(t *testing.T) {
	t.Parallel()
	tp, srvs, a := lifeTopo(t, 7)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		tok := token("veth")
		denied, allowed := twins(tok)
		f := tp.connect(t, s.Port(), false, nil)
		attached := strings.Count(a.Logs.String(), "msg=attached")
		peer := tp.srv.Port + "p"
		ip("link", "del", tp.srv.Port)
		ip("link", "add", tp.srv.Port, "type", "veth", "peer", "name", peer)
		ip("link", "set", peer, "netns", tp.srv.NS)
		ip("link", "set", tp.srv.Port, "master", tp.net.Bridge)
		ip("link", "set", tp.srv.Port, "up")
		ip("-n", tp.srv.NS, "link", "set", peer, "name", "eth0")
		ip("-n", tp.srv.NS, "addr", "add", tp.srv.Addr.String()+"/24", "dev", "eth0")
		ip("-n", tp.srv.NS, "addr", "add", tp.srv6.String()+"/64", "dev", "eth0", "nodad")
		ip("-n", tp.srv.NS, "link", "set", "eth0", "up")
		cliMAC := tp.mac(tp.cli).String()
		ip("-n", tp.srv.NS, "neigh", "replace", tp.atk4.String(), "lladdr", cliMAC, "dev", "eth0", "nud", "permanent")
		ip("-n", tp.cli.NS, "neigh", "flush", "dev", "eth0") // the old MAC
		tp.srvMAC = tp.mac(tp.srv)
		f.ServerMAC = tp.srvMAC
		must(t, f.Data(f.ISN+1, denied[:len(denied)-2]))
		waitReattached(t, a, attached)
		time.Sleep(100 * time.Millisecond)
		expectNewDeniedReset(t, tp, s, "after the re-attach")
		ok := token("ok")
		if got := curl(t, tp.cli, "http://"+tp.srvAddr(s.Port())+"/api/v1/"+ok); got != "200" {
			t.Errorf("after the re-attach, an allowed request: got %s, want 200", got)
		}
		must(t, f.Data(f.ISN+1, allowed))
		resp, rst := f.Response("\r\n\r\n", time.Second)
		expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" across a recreated veth ("+describe(resp, rst)+")")
	})
}

// TestRedteamAddressAddedToServerPod (held): an IPv4 and an IPv6 address
// added to the server pod's interface after the agent attached (no Pod
// object names them): requests to them are the pod's, and denied.
func TestRedteamAddressAddedToServerPod(t *testing.T) {
	t.Parallel()
	tp := newTopo82(t, 8)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	tp.run(tp.srv, "ip", "addr", "add", "10.82.8.99/24", "dev", "eth0")
	tp.run(tp.srv, "ip", "-6", "addr", "add", "fd82:8::99/64", "dev", "eth0", "nodad")
	time.Sleep(1500 * time.Millisecond)
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, host := range []string{"10.82.8.99", "[fd82:8::99]"} {
			ok := token("ok")
			if got := curl(t, tp.cli, "http://"+host+":"+itoa(s.Port())+"/api/v1/"+ok); got != "200" {
				t.Errorf("%s: an allowed request: got %s, want 200", host, got)
			}
			tok := token("sec")
			got := curl(t, tp.cli, "http://"+host+":"+itoa(s.Port())+"/api/admin/"+tok)
			expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" to "+host+" ("+got+")")
		}
	})
}
