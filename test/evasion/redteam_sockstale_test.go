package evasion

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestRedteamServerSockStaleFastOpen (rule 2, red team rt38; closed in the
// same session): the agent read the pod namespace's net.ipv4.tcp_fastopen
// (bit 0x2) only when it recorded the pod interface: when the node's set of
// veths changed or a policy with other pod IPs was applied. Now it reads it
// again on every attachment check (every second: agent/run.go keepAttached,
// attach.FastOpenServers). A namespace whose
// tcp_fastopen is set after its veth was recorded (Kubernetes pod sysctls
// are written by the runtime into the sandbox after CNI made the veth; an
// init container or an operator's sysctl -w later) keeps FastOpen = false
// in the interface entry. ax_server_unverified then trusted a SYN-ACK whose
// server socket the lookup cannot find (AX_SRV_UNKNOWN && !fastopen), and
// the rt37 device-bound listener attack worked again (Go).
//
// Steps: pod namespace with tcp_fastopen=1 (no server fast open) when the
// agent starts and records the pod interface; then sysctl -w
// net.ipv4.tcp_fastopen=0x403 in the pod (the Go server's listener is bound
// to eth0 with SO_BINDTODEVICE). Enforce: bad-checksum SYN at ISN +
// len(head) planted in syns. The endpoint is unpoliced by a policy change
// that keeps the same pods (ports: [9] only, so no pod-IP change and no
// re-recording), a fast-open SYN with cookie + "GET /api/admin/<tok>
// HTTP/1.1\r\nHost: srv\r\nX-Pad: p" is taken, the policy comes back, the
// server's resent SYN-ACK matches the planted record, the lookup finds
// nothing, fastopen reads 0: flow in step; ACK + "\r\n\r\n" ends the head.
//
// Control: the same steps at nginx and Python in the same pod (unbound):
// their children are found holding bytes and the flow is refused.
func TestRedteamServerSockStaleFastOpen(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.73", "fd73", 1)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=1")
	tp.policy("Enforce", "")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 10*time.Second)
	// The pod interface is recorded by now, and again by keepAttached's
	// first round (its first veth check reports a change); then the pod
	// turns server fast open on.
	time.Sleep(2500 * time.Millisecond)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	t.Logf("pod tcp_fastopen now %s", tp.run(tp.srv, "sysctl", "-n", "net.ipv4.tcp_fastopen"))
	fastOpenTurnedOn(t, tp, a, "stale", "a device-bound server of a pod that turned server fast open on after its interface was recorded")
}

func mustRead(t *testing.T, tp *topo) []byte {
	t.Helper()
	b, err := os.ReadFile(tp.dir + "/policy.yaml")
	must(t, err)
	return b
}

// fastOpenTurnedOn is the rest of the attack on a pod that turned server
// fast open on (net.ipv4.tcp_fastopen=0x403) after the agent recorded its
// interface: a Go server bound to eth0, nginx and Python start; the
// planted SYN records; an unpoliced window by a policy change that keeps
// the same pods (ports: [9]); the fast-open SYNs with the denied head; the
// policy back; the held heads ended after the resent SYN-ACKs. The head
// must not run anywhere (what: how the bound server's case came about);
// the unbound servers' refusals are the controls. Then the contrast: a pod
// IP more makes the agent record the interface afresh, and a connection to
// the bound server is refused. tag names the markers.
func fastOpenTurnedOn(t *testing.T, tp *topo, a *agent, tag, what string) {
	t.Helper()
	// The pod's servers start after its sysctls are in place (as in a
	// Kubernetes pod: veth by CNI, then sysctls, then the containers).
	bound := startGoBound(t, tp.srv, goPort)
	srvs := append([]server{bound}, tp.servers("nginx", "python")...)

	for _, s := range srvs {
		if s == server(bound) {
			// Diagnostic: on a fast-open pod this is refused
			// (TestRedteamServerSockBoundListener); right after the sysctl
			// change it may pass, until the agent's next check.
			f := tp.connect(t, s.Port(), false, nil)
			ctl := token("/api/v1/" + tag + "ctl")
			must(t, f.Data(f.ISN+1, request(ctl)))
			resp, rst := f.Response("\r\n\r\n", 2*time.Second)
			t.Logf("%s: allowed request to the bound server after the sysctl change: %s (ran: %v)", s.Name(), describe(resp, rst), ranOn(s, ctl))
		} else {
			tp.rawControl(t, s, false)
		}
		tp.rawDenied(t, s, tag+"den")
	}
	tfoOpt := fastOpenOption(t, tp, goPort)

	cs := plantedConns(t, tp, srvs, "sock"+tag)

	// Unpoliced window by a policy change that keeps the same pods.
	orig := string(mustRead(t, tp))
	tp.write("policy.yaml", fmt.Sprintf(`apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata:
  name: srv-api
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: srv
  ports:
  - port: 9
  mode: Enforce
  defaultAction: Deny
  rules:
%s`, baseRules))
	waitGeneration(t, a, 2, 10*time.Second)
	for _, s := range srvs {
		cs[s.Name()].sendFastOpen(t, tfoOpt)
	}
	t.Logf("server sockets in SYN_RECV:\n%s", tp.run(tp.srv, "ss", "-tnH", "state", "syn-recv"))
	time.Sleep(200 * time.Millisecond)
	tp.write("policy.yaml", orig)
	waitGeneration(t, a, 3, 10*time.Second)

	forServers(t, srvs, func(t *testing.T, s server) {
		c := cs[s.Name()]
		defer c.done()
		resp, rst := endHeldHead(t, c.f, c.next)
		t.Logf("%s: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(a))
		if s != server(bound) {
			if ranOn(s, c.tok) {
				t.Fatalf("control: the head ran on the unbound %s too (%s): the socket check does not hold here at all", s.Name(), describe(resp, rst))
			}
			return
		}
		expectNeverRun(t, s, c.tok, fmt.Sprintf("GET /api/admin/%s, fast-open SYN data taken while the endpoint was not policed, by %s (%s)", c.tok, what, describe(resp, rst)))
	})

	// Contrast: a change of the cluster's pod IPs makes the agent record
	// the pod interface again, reading tcp_fastopen afresh; a connection to
	// the bound server is refused (server_unverified), as in
	// TestRedteamServerSockBoundListener. (Before the fix the leak above
	// came from the stale reading.)
	other := tp.srv.Addr.As4()
	other[3] = 30
	tp.write("cluster.yaml", tp.clusterYAML()+fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata:
  name: other-0
  namespace: shop
  labels:
    app: other
spec:
  containers:
  - name: main
    image: example.invalid/app:1
status:
  phase: Running
  podIP: %[1]s
  podIPs:
  - ip: %[1]s
`, netip.AddrFrom4(other)))
	waitGeneration(t, a, 4, 10*time.Second)
	f := tp.connect(t, goPort, false, nil)
	ctl := token("/api/v1/freshctl")
	must(t, f.Data(f.ISN+1, request(ctl)))
	resp, rst := f.Response("\r\n\r\n", 2*time.Second)
	t.Logf("after the re-recording, allowed request to the bound server: %s (ran: %v); agent: %s", describe(resp, rst), ranOn(bound, ctl), metricsSummary(a))
	if !rst || ranOn(bound, ctl) {
		t.Errorf("contrast: after a fresh reading of tcp_fastopen the bound server's connection was not refused: %s", describe(resp, rst))
	}
}
