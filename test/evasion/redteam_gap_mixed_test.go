package evasion

import (
	"fmt"
	"testing"
	"time"
)

// TestRedteamFragmentsMixedModePod (rt34, held if it passes): one pod, two
// policies, port goPort and port nginxPort, both Audit-only at first
// (control: IPv4 fragments carrying a whole denied request into a Go
// connection pass and run). Then goPort's policy alone is switched to
// Enforce: the same fragments into a Go connection, and into an nginx one
// (its port still Audit-only), must not run: the address's summary entry
// is enforced.
func TestRedteamFragmentsMixedModePod(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.78", "fd78", 6)
	pol := func(name string, port int, mode string) string {
		return fmt.Sprintf(`apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata:
  name: %s
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: srv
  ports:
  - port: %d
  mode: %s
  defaultAction: Deny
  rules:
%s`, name, port, mode, baseRules)
	}
	tp.write("policy.yaml", pol("srv-enf", goPort, "Audit"))
	tp.write("policy-audit.yaml", pol("srv-aud", nginxPort, "Audit"))
	srvs := tp.servers("go", "nginx")
	// New connections within the gap slack of the control's gap would be
	// refused once enforced (by design): a short slack, so the raw
	// controls after the switch can pass.
	tp.agent = startAgentArgs(t, tp.dir, []string{"--audit-gap-slack", "1s"}, tp.srv.Port)
	a := tp.agent
	waitGeneration(t, a, 1, 10*time.Second)
	id := uint16(8000)
	send := func(s server) (string, *Flow) {
		tp.rawControl(t, s, false)
		tok := token("mixfrag")
		f := tp.connect(t, s.Port(), false, nil)
		seg := Segment{SrcPort: f.Local.Port(), DstPort: f.Remote.Port(), Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH,
			Payload: request("/api/admin/" + tok)}
		id++
		h := IPv4{Src: f.Local.Addr(), Dst: f.Remote.Addr(), Proto: ProtoTCP, ID: id}
		for _, fr := range Fragments4(h, seg.Marshal(f.Local.Addr(), f.Remote.Addr()), 24) {
			must(t, f.SendIP(fr))
		}
		return tok, f
	}
	ctok, cf := send(srvs[0])
	resp, rst := cf.Response("\r\n\r\n", time.Second)
	t.Logf("control (both ports Audit-only, go): %s", describe(resp, rst))
	expectArrived(t, srvs[0], ctok, "control: a denied request in fragments while Audit-only")
	tp.write("policy.yaml", pol("srv-enf", goPort, "Enforce"))
	waitGeneration(t, a, 2, 10*time.Second)
	time.Sleep(1200 * time.Millisecond) // past the gap slack
	for _, s := range srvs {
		tok, f := send(s)
		resp, rst = f.Response("\r\n\r\n", time.Second)
		t.Logf("%s after goPort alone is enforced: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(a))
		if s.Name() == "go" {
			expectNeverRun(t, s, tok, "a denied request in IPv4 fragments on the enforced port of a pod with an Audit-only port ("+describe(resp, rst)+")")
		} else {
			t.Logf("nginx (Audit-only port) ran it: %v", logged(s, tok))
		}
	}
}
