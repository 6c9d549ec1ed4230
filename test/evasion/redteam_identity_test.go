package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// newTopo95 is newTopo on 10.95.<n>.0/24 and fd95:<n>::/64, the range of
// the red team's findings of classes 26-29 (identity, tunnel, auditheld and
// pipeline tests).
func newTopo95(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.95", "fd95", n)
}

// TestRedteamLinkLocalSourceIdentity: a source's identity is looked up by
// its address (docs/semantics.md "Sources"): a known pod is one whose
// address is a podIP. But a pod's stack has more addresses than its
// podIPs (class 2 is the server side of this): every pod with IPv6 has a
// link-local fe80:: address, and a connection to the server's link-local
// address leaves from the client's. Nothing forges anything: an
// unprivileged `curl -g 'http://[fe80::...%eth0]:8080/...'` from the
// client pod does it, on any segment pods share (a bridge CNI). The
// datapath gives that source the identity of an external address (world),
// so a Deny rule that names the client pod by its labels does not match,
// and a policy whose default is Allow lets the request through.
//
// Policy: defaultAction Allow; Deny from podSelector app=cli on
// /internal. The cli pod's GET /internal/<tok> is reset over IPv4 and its
// IPv6 pod IP; to the server's link-local address it is served.
//
// A link-local source that comes in through no known pod's interface (a
// pod the agent has not recorded yet, a host on the segment) cannot be
// given an identity: it is refused, not taken for an external address.
func TestRedteamLinkLocalSourceIdentity(t *testing.T) {
	t.Parallel()
	tp := newTopo95(t, 1)
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
  - port: %d
  - port: %d
  mode: Enforce
  defaultAction: Allow
  rules:
  - action: Deny
    from:
    - podSelector:
        matchLabels:
          app: cli
    http:
    - paths:
      - prefix: /internal
`, goPort, nginxPort))
	// A pod the cluster objects do not name (yet): no veth record.
	stranger := tp.net.AddHost("new", "10.95.1.40")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	ll := linkLocal(t, tp)
	waitLinkLocal(t, tp, stranger)
	forServers(t, srvs, func(t *testing.T, s server) {
		port := itoa(s.Port())
		for _, base := range []string{
			"http://" + tp.srv.Addr.String() + ":" + port,
			"http://[" + tp.srv6.String() + "]:" + port,
		} {
			tok := token("podip")
			if got := curl(t, tp.cli, base+"/internal/"+tok, "-g"); got != "reset" {
				t.Errorf("denied request to %s: got %s, want reset", base, got)
			}
			expectNever(t, s, tok, "GET /internal/... from the cli pod to "+base)
		}
		ctl := token("ctl")
		if c := curl(t, tp.cli, "http://["+ll+"%25eth0]:"+port+"/api/v1/"+ctl, "-g"); c != "200" {
			t.Errorf("allowed request to the link-local address: got %s, want 200", c)
		}
		expectArrived(t, s, ctl, "the allowed control request to the link-local address")
		tok := token("llsrc")
		got := curl(t, tp.cli, "http://["+ll+"%25eth0]:"+port+"/internal/"+tok, "-g")
		expectNever(t, s, tok, "GET /internal/... from the cli pod (link-local source) to "+ll+" (curl: "+got+")")
		unk := token("llunknown")
		got = curl(t, stranger, "http://["+ll+"%25eth0]:"+port+"/internal/"+unk, "-g")
		expectNever(t, s, unk, "GET /internal/... from an unrecorded pod's link-local address (curl: "+got+")")
	})
}

// waitLinkLocal waits until h's link-local address is usable (DAD done).
func waitLinkLocal(t *testing.T, tp *topo, h *netns.Host) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := tp.run(h, "ip", "-6", "-o", "addr", "show", "dev", h.Iface, "scope", "link")
		if strings.Contains(out, "inet6 fe80:") && !strings.Contains(out, "tentative") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usable link-local address in %s: %q", h.NS, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
