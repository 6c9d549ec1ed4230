package evasion

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newTopo82 is newTopo on 10.82.<n>.0/24 and fd82:<n>::/64 (the lifecycle
// red team's range).
func newTopo82(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.82", "fd82", n)
}

// TestRedteamStaleFlowAcrossUnpolicedWindow: a flow's state is created by
// the server's SYN-ACK and moved only by segments the programs see while
// the endpoint is policed. When the endpoint stops being policed for a
// while (its policy file removed and written again, the server pod's labels
// changed and changed back, the port dropped from the policy and restored:
// the table in force then has no endpoint for it), both programs return
// before looking at the flow: the client's bytes reach the server and the
// server's ACKs pass, and the flow still says that nothing was let through.
// When the endpoint is policed again the flow is used as it stands: its
// next byte is the connection's first one, not the server's.
//
// The attacker (a raw socket in the client pod; CAP_NET_RAW) opens a
// connection while the policy is enforced (the flow is created), and while
// the endpoint is not policed sends the start of a request the policy
// denies, its header section not ended:
//
//	X = "GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\n"
//
// The server holds it (acknowledges it, runs nothing: the head is not
// whole). Once the policy is in force again it sends, at the connection's
// first sequence number (the flow's next byte), an allowed request of the
// same length as X plus the end of its head:
//
//	"GET /api/v1/aaaa...a HTTP/1.1\r\nHost: srv\r\n" + "\r\n"
//
// The datapath parses an allowed request and lets the segment through. The
// server already holds the first len(X) bytes (it trims them, whatever they
// hold) and takes the final "\r\n": it runs X, GET /api/admin/<tok>, which
// the enforced policy denies. No ACK the datapath could check comes between
// (the server acknowledged X while the endpoint was not policed and has
// nothing else to say), and the client's ACK names only the server's SYN.
//
// Rule 3 (one content per byte position) is kept only for the bytes the
// flow knows it let through; the unpoliced window let bytes through that the
// flow never saw.
func TestRedteamStaleFlowAcrossUnpolicedWindow(t *testing.T) {
	t.Parallel()
	tp, srvs, a := lifeTopo(t, 1)
	gen := 1
	policyFile := filepath.Join(tp.dir, "policy.yaml")
	policyText, err := os.ReadFile(policyFile)
	must(t, err)

	windows := []struct {
		name    string
		off, on func(port int)
	}{
		// The policy file removed and written again (an editor or a
		// tool that replaces files by delete + create, a GitOps sync).
		{"policy-file-removed-and-readded", func(int) { must(t, os.Remove(policyFile)) },
			func(int) { tp.write("policy.yaml", string(policyText)) }},
		// The server pod relabelled out of the policy's podSelector
		// and back.
		{"server-pod-relabelled-and-back", func(int) {
			tp.write("cluster.yaml", strings.Replace(tp.clusterYAML(), "app: srv\n", "app: srv-canary\n", 1))
		}, func(int) { tp.write("cluster.yaml", tp.clusterYAML()) }},
		// The server's port taken out of the policy's ports and put
		// back.
		{"port-removed-and-readded", func(port int) {
			tp.write("policy.yaml", strings.Replace(string(policyText), "  - port: "+itoa(port)+"\n", "", 1))
		}, func(int) { tp.write("policy.yaml", string(policyText)) }},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		staleControls(t, tp, s)
		for _, w := range windows {
			t.Run(w.name, func(t *testing.T) {
				tok := token("stale")
				denied, allowed := twins(tok)
				// Opened while enforced: the SYN-ACK makes the flow.
				f := tp.connect(t, s.Port(), false, nil)
				w.off(s.Port())
				gen++
				waitGeneration(t, a, gen, 10*time.Second)
				// Unpoliced: the head of the denied request, not ended.
				must(t, f.Data(f.ISN+1, denied[:len(denied)-2]))
				time.Sleep(200 * time.Millisecond) // the server acknowledges it
				w.on(s.Port())
				gen++
				waitGeneration(t, a, gen, 10*time.Second)
				// A new connection's denied request is reset again.
				expectNewDeniedReset(t, tp, s, "after the policy is back")
				// Policed again: an allowed copy at the flow's next byte,
				// whose last two bytes end the server's held head.
				must(t, f.Data(f.ISN+1, allowed))
				resp, rst := f.Response("\r\n\r\n", time.Second)
				expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" whose head was sent while the endpoint was not policed and ended after it was again ("+describe(resp, rst)+")")
			})
		}
	})
}

// TestRedteamStaleFlowTunnelAfterUnpolicedWindow: the same stale flow made
// into a lasting tunnel. The copy the datapath parses at the connection's
// first byte is an allowed POST whose head ends inside the bytes the server
// already holds, with a large Content-Length; the server reads the held
// denied head, ended by the segment's next "\r\n", and then every request
// after it, while the datapath counts all of them as that POST's body. The
// connection stays open and keeps serving denied requests (each in its own
// later segment, in order) for as long as the body lasts.
//
// Bytes: while the endpoint is not policed (policy file removed),
//
//	X = "GET /api/admin/<t1> HTTP/1.1\r\nHost: srv\r\nX-Pad: ...\r\n"
//
// Once it is policed again, at the connection's first sequence number:
//
//	Y = "POST /api/v1/p HTTP/1.1\r\nHost: srv\r\nContent-Length: 1000000\r\n\r\nzz...z"  (len(Y) == len(X))
//	  + "\r\n" + "GET /api/admin/<t2> HTTP/1.1\r\nHost: srv\r\n\r\n"
//
// then, later and in order, "GET /api/admin/<t3> HTTP/1.1\r\nHost: srv\r\n\r\n".
// The body's first line is "zz...z" (class 31's check passes it); the
// server runs t1, t2 and t3.
func TestRedteamStaleFlowTunnelAfterUnpolicedWindow(t *testing.T) {
	t.Parallel()
	tp, srvs, a := lifeTopo(t, 3)
	gen := 1
	policyFile := filepath.Join(tp.dir, "policy.yaml")
	policyText, err := os.ReadFile(policyFile)
	must(t, err)
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		t1, t2, t3 := token("tun1"), token("tun2"), token("tun3")
		y := "POST /api/v1/p HTTP/1.1\r\nHost: srv\r\nContent-Length: 1000000\r\n\r\nzzzz"
		x := "GET /api/admin/" + t1 + " HTTP/1.1\r\nHost: srv\r\nX-Pad: "
		for len(x)+2 < len(y) {
			x += "p"
		}
		x += "\r\n"
		for len(y) < len(x) {
			y += "z"
		}
		f := tp.connect(t, s.Port(), false, nil)
		must(t, os.Remove(policyFile))
		gen++
		waitGeneration(t, a, gen, 10*time.Second)
		must(t, f.Data(f.ISN+1, []byte(x)))
		time.Sleep(200 * time.Millisecond)
		tp.write("policy.yaml", string(policyText))
		gen++
		waitGeneration(t, a, gen, 10*time.Second)
		expectNewDeniedReset(t, tp, s, "after the policy is back")
		seg := y + "\r\n" + string(request("/api/admin/"+t2))
		must(t, f.Data(f.ISN+1, []byte(seg)))
		time.Sleep(300 * time.Millisecond)
		next := f.ISN + 1 + uint32(len(seg))
		must(t, f.Data(next, request("/api/admin/"+t3)))
		resp, rst := f.Response("/api/admin/"+t3, 2*time.Second)
		what := "(" + describe(resp, rst) + ", " + itoa(strings.Count(resp, "HTTP/1.1 ")) + " responses)"
		expectNeverRun(t, s, t1, "GET /api/admin/"+t1+", held across the unpoliced window "+what)
		expectNeverRun(t, s, t2, "GET /api/admin/"+t2+", sent after the window in the allowed POST's 'body' "+what)
		expectNeverRun(t, s, t3, "GET /api/admin/"+t3+", a later in-order segment of the same connection "+what)
	})
}

// TestRedteamStaleFlowAcrossReattach: the unpoliced window of
// TestRedteamStaleFlowAcrossUnpolicedWindow made by interface churn
// instead of a policy edit: the server's attachment is lost (here its
// clsact qdisc deleted, as a CNI or another tool that replaces qdiscs
// does) and the agent re-attaches it within a second (agent/README.md step
// 6: "NOT ENFORCING" meanwhile). The device, and so the flow's ifindex,
// stay the same: the flow outlives the window and resumes at a stale next
// byte. The same bytes as there: the denied head while nothing is
// attached, the allowed copy plus "\r\n" once the agent has re-attached.
func TestRedteamStaleFlowAcrossReattach(t *testing.T) {
	t.Parallel()
	tp := newTopo82(t, 6)
	srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", "clsact")
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		tok := token("reatt")
		denied, allowed := twins(tok)
		f := tp.connect(t, s.Port(), false, nil)
		lost := strings.Count(a.Logs.String(), "attachment lost")
		attached := strings.Count(a.Logs.String(), "msg=attached")
		out, err := exec.Command("tc", "qdisc", "del", "dev", tp.srv.Port, "clsact").CombinedOutput()
		if err != nil {
			t.Fatalf("tc qdisc del: %v %s", err, out)
		}
		must(t, f.Data(f.ISN+1, denied[:len(denied)-2]))
		waitReattached(t, a, attached)
		if strings.Count(a.Logs.String(), "attachment lost") == lost {
			t.Fatal("the agent did not see the attachment lost")
		}
		expectNewDeniedReset(t, tp, s, "after the re-attach")
		must(t, f.Data(f.ISN+1, allowed))
		resp, rst := f.Response("\r\n\r\n", time.Second)
		expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" whose head was sent while the attachment was lost and ended after the agent re-attached ("+describe(resp, rst)+")")
	})
}

// lifeTopo is the lifecycle tests' topology n: the usual Enforce policy,
// Go, nginx and Python in the server pod, and the agent with it in force.
func lifeTopo(t *testing.T, n int) (*topo, []server, *agent) {
	t.Helper()
	tp := newTopo82(t, n)
	srvs, a := policedTopo(t, tp, "Enforce")
	return tp, srvs, a
}

// policedTopo puts the usual policy in mode on tp, Go, nginx and Python in
// its server pod, and the agent (with flags) in front of it, and waits
// until the policy is in force.
func policedTopo(t *testing.T, tp *topo, mode string, flags ...string) ([]server, *agent) {
	t.Helper()
	tp.policy(mode, "")
	srvs := tp.servers("go", "nginx", "python")
	tp.agent = startAgentArgs(t, tp.dir, flags, tp.srv.Port)
	waitGeneration(t, tp.agent, 1, 5*time.Second)
	return srvs, tp.agent
}

// expectNewDeniedReset checks that a new connection's denied request to s
// is reset: enforcement is back (when says after what).
func expectNewDeniedReset(t *testing.T, tp *topo, s server, when string) {
	t.Helper()
	if got := curl(t, tp.cli, "http://"+tp.srvAddr(s.Port())+"/api/admin/"+token("reset")); got != "reset" {
		t.Errorf("%s, a new denied request: got %s, want reset", when, got)
	}
}

// waitReattached waits until agent a has logged both directions attached
// again since its log held attached such lines.
func waitReattached(t *testing.T, a *agent, attached int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(a.Logs.String(), "msg=attached") < attached+2 {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not re-attach within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// staleControls are the stale-flow tests' controls on server s: an allowed
// raw request arrives, and the denied head they use, sent while the policy
// is in force, is reset at once.
func staleControls(t *testing.T, tp *topo, s server) {
	t.Helper()
	tp.rawControl(t, s, false)
	tok := token("ctl")
	denied, _ := twins(tok)
	f := tp.connect(t, s.Port(), false, nil)
	must(t, f.Data(f.ISN+1, denied[:len(denied)-2]))
	resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
	if !rst {
		t.Errorf("control: the denied head on a policed endpoint was not reset (%s)", describe(resp, rst))
	}
	expectNeverRun(t, s, tok, "the control's denied request")
}
