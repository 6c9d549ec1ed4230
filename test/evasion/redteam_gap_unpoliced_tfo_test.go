package evasion

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRedteamUnpolicedSynRecvTFO (class 33/34, red team rt35): a flow never
// outlives a window in which its endpoint was not policed (class 33), and a
// connection whose start was not seen is refused (no_flow). But a
// connection in SYN_RECV is not started yet for the datapath: a fast-open
// server that took the SYN's data while the endpoint was not policed holds
// it and resends its SYN-ACK (1 s, 3 s, 7 s, ...), and the first SYN-ACK
// after the policy is back starts a flow afresh, at the stream position
// after the data the server holds. No audit gap is recorded either (nothing
// looked at the frames).
//
// Steps (fast open on for every listener of the server's namespace,
// net.ipv4.tcp_fastopen=0x403; Go with TCP_FASTOPEN too; raw client with a
// real cookie fetched while Enforce):
//
//	policy file removed (the endpoint is not policed)
//	SYN + MSS + cookie + "GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\nX-Pad: p"
//	    the server takes the data (SYN-ACK ack = ISN+1+len)
//	policy file written again (Enforce)
//	the server's next SYN-ACK retransmission: a new flow, base = ISN+1+len
//	ACK + "\r\n\r\n" at ISN+1+len: empty lines for the datapath (passed);
//	    the server ends the head and runs GET /api/admin/<tok>
//
// Control: a connection whose handshake completed inside the window, the
// same open head sent then: refused (no_flow) once the policy is back.
func TestRedteamUnpolicedSynRecvTFO(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.77", "fd77", 3)
	srvs, a, tfoOpt := fastOpenTopo(t, tp, "Enforce")
	gen := 1

	restore := unpolice(t, tp, a, &gen)

	type conn struct {
		f            *Flow
		tok, ctlTok  string
		next, srvISN uint32
		ctl          *Flow
		nextSA       func(time.Duration) (synAck, bool)
		done         func()
	}
	cs := map[string]*conn{}
	for _, s := range srvs {
		tok := token("unpoltfo")
		f := tp.rawFlow(s.Port(), false)
		h := []byte("GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p")
		next, done := synAckWatch(t, tp, f)
		must(t, f.Send(Segment{Seq: f.ISN, Flags: SYN, Options: tfoOpt, Payload: h}))
		sa, ok := next(3 * time.Second)
		sq, ack := sa.seq, sa.ack
		if !ok || ack != f.ISN+1+uint32(len(h)) {
			done()
			t.Fatalf("%s: no SYN-ACK taking the SYN data (ok %v, ack %d, ISN %d, %d bytes)", s.Name(), ok, ack, f.ISN, len(h))
		}
		// Control: an established connection holding the same open head.
		ctlTok := token("unpolctl")
		c := tp.connect(t, s.Port(), false, nil)
		must(t, c.Data(c.ISN+1, []byte("GET /api/admin/"+ctlTok+" HTTP/1.1\r\nHost: srv\r\nX-Pad: p")))
		cs[s.Name()] = &conn{f: f, tok: tok, ctlTok: ctlTok, next: ack, srvISN: sq, ctl: c, nextSA: next, done: done}
	}
	time.Sleep(200 * time.Millisecond)
	restore()

	forServers(t, srvs, func(t *testing.T, s server) {
		c := cs[s.Name()]
		defer c.done()
		cl := c.ctl
		must(t, cl.Data(cl.ISN+1+uint32(len("GET /api/admin/"+c.ctlTok+" HTTP/1.1\r\nHost: srv\r\nX-Pad: p")), []byte("\r\n\r\n")))
		cresp, crst := cl.Response("\r\n\r\n", time.Second)
		t.Logf("%s control (established in the window): %s", s.Name(), describe(cresp, crst))
		if ranOn(s, c.ctlTok) {
			t.Fatalf("control: the established connection's head ran on %s (%s): class 33 does not hold here", s.Name(), describe(cresp, crst))
		}
		resp, rst := endHeldHead(t, c.f, c.nextSA)
		t.Logf("%s attack: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(a))
		expectNeverRun(t, s, c.tok, fmt.Sprintf("GET /api/admin/%s, sent as fast-open SYN data while the endpoint was not policed, ended after the enforced policy came back (%s)", c.tok, describe(resp, rst)))
	})
}

// TestRedteamReattachSynRecvTFO is TestRedteamUnpolicedSynRecvTFO with the
// window made by interface churn (as TestRedteamStaleFlowAcrossReattach):
// the server's clsact qdisc deleted, the fast-open SYN data sent while
// nothing is attached, the agent re-attaching within a second and
// forgetting the interface's flows (there are none: the connection is in
// SYN_RECV). The server's next SYN-ACK retransmission starts a flow afresh
// after the held bytes; ACK + "\r\n\r\n" ends the denied head.
func TestRedteamReattachSynRecvTFO(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.77", "fd77", 4)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.policy("Enforce", "")
	srvs := append([]server{startGoTFO(t, tp.srv, goPort)}, tp.servers("nginx", "python")...)
	tp.agent = startAgentArgs(t, tp.dir, []string{"--attach-mode", "clsact"}, tp.srv.Port)
	a := tp.agent
	waitGeneration(t, a, 1, 10*time.Second)
	for _, s := range srvs {
		tp.rawControl(t, s, false)
	}
	tfoOpt := fastOpenOption(t, tp, srvs[0].Port())

	type conn struct {
		f      *Flow
		tok    string
		hlen   int
		nextSA func(time.Duration) (synAck, bool)
		done   func()
	}
	cs := map[string]*conn{}
	for _, s := range srvs {
		tok := token("reatttfo")
		f := tp.rawFlow(s.Port(), false)
		next, done := synAckWatch(t, tp, f)
		cs[s.Name()] = &conn{f: f, tok: tok, hlen: len("GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p"), nextSA: next, done: done}
	}
	attached := strings.Count(a.Logs.String(), "msg=attached")
	out, err := exec.Command("tc", "qdisc", "del", "dev", tp.srv.Port, "clsact").CombinedOutput()
	if err != nil {
		t.Fatalf("tc qdisc del: %v %s", err, out)
	}
	for _, s := range srvs {
		c := cs[s.Name()]
		must(t, c.f.Send(Segment{Seq: c.f.ISN, Flags: SYN, Options: tfoOpt,
			Payload: []byte("GET /api/admin/" + c.tok + " HTTP/1.1\r\nHost: srv\r\nX-Pad: p")}))
	}
	for _, s := range srvs {
		c := cs[s.Name()]
		sa, ok := c.nextSA(2 * time.Second)
		ack := sa.ack
		if !ok || ack != c.f.ISN+1+uint32(c.hlen) {
			t.Fatalf("%s: no SYN-ACK taking the SYN data (ok %v, ack %d, ISN %d)", s.Name(), ok, ack, c.f.ISN)
		}
	}
	waitReattached(t, a, attached)
	t.Logf("re-attached at %s", time.Now().Format("15:04:05.000"))
	forServers(t, srvs, func(t *testing.T, s server) {
		c := cs[s.Name()]
		defer c.done()
		resp, rst := endHeldHead(t, c.f, c.nextSA)
		t.Logf("%s attack: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(a))
		expectNeverRun(t, s, c.tok, fmt.Sprintf("GET /api/admin/%s, sent as fast-open SYN data while the attachment was lost, ended after the agent re-attached (%s)", c.tok, describe(resp, rst)))
		expectNewDeniedReset(t, tp, s, "after the re-attach")
	})
}
