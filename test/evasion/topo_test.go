package evasion

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// Server ports: every test's server pod runs the Go server on goPort, nginx
// on nginxPort and, where a test asks for it, Python on pythonPort.
const (
	goPort     = 8080
	nginxPort  = 8081
	pythonPort = 8082
)

// topo is one test's topology on 10.86.<n>.0/24 and fd86:<n>::/64: the
// server pod srv-0 (.10, app=srv) and the client pod cli-0 (.20, app=cli)
// on a bridge, plus a second client pod cli-1 (.21, app=cli) whose
// addresses no kernel owns: the raw-packet attacker in the client's
// namespace speaks for it (see the package doc).
type topo struct {
	t           *testing.T
	n           int
	net         *netns.Net
	srv, cli    *netns.Host
	srv6        netip.Addr // the server's IPv6 pod address
	cli6        netip.Addr
	atk4        netip.Addr // cli-1: the raw attacker's addresses
	atk6        netip.Addr
	srvMAC      net.HardwareAddr
	dir         string // policy directory
	agent       *agent
	link        *Link // AF_PACKET socket in the client namespace, opened on first use
	flooder     *Link // AF_PACKET socket of a third pod (class 6), opened on first use
	floods      int
	flooderPort string // its bridge port
	lport       uint16 // last local port of a raw flow
}

// newTopo builds the namespaces and writes the cluster objects; the test
// then writes its policy, starts its servers and calls startAgent.
func newTopo(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.86", "fd86", n)
}

// newTopoIn is newTopo on <v4net>.<n>.0/24 and <v6net>:<n>::/64, for
// suites that own another address range (the red team's 10.90/16).
func newTopoIn(t *testing.T, v4net, v6net string, n int) *topo {
	t.Helper()
	netns.RequireRoot(t)
	v4 := fmt.Sprintf("%s.%d.", v4net, n)
	v6 := fmt.Sprintf("%s:%x::", v6net, n)
	tp := &topo{t: t, n: n, net: netns.New(t, v4+"0/24"), dir: t.TempDir()}
	tp.srv = tp.net.AddHost("srv", v4+"10")
	tp.cli = tp.net.AddHost("cli", v4+"20")
	tp.srv6 = netip.MustParseAddr(v6 + "10")
	tp.cli6 = netip.MustParseAddr(v6 + "20")
	tp.atk4 = netip.MustParseAddr(v4 + "21")
	tp.atk6 = netip.MustParseAddr(v6 + "21")
	tp.run(tp.srv, "ip", "-6", "addr", "add", tp.srv6.String()+"/64", "dev", "eth0", "nodad")
	tp.run(tp.cli, "ip", "-6", "addr", "add", tp.cli6.String()+"/64", "dev", "eth0", "nodad")
	tp.srvMAC = tp.mac(tp.srv)
	cliMAC := tp.mac(tp.cli).String()
	// The server reaches the attacker's addresses at the client's MAC.
	tp.run(tp.srv, "ip", "neigh", "replace", tp.atk4.String(), "lladdr", cliMAC, "dev", "eth0", "nud", "permanent")
	tp.run(tp.srv, "ip", "-6", "neigh", "replace", tp.atk6.String(), "lladdr", cliMAC, "dev", "eth0", "nud", "permanent")
	tp.write("cluster.yaml", tp.clusterYAML())
	t.Cleanup(func() {
		if tp.link != nil {
			tp.link.Close()
		}
	})
	return tp
}

// run runs a command inside h and fails the test on error.
func (tp *topo) run(h *netns.Host, name string, args ...string) string {
	tp.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Run(ctx, name, args...)
	if err != nil {
		tp.t.Fatal(err)
	}
	return string(out)
}

func (tp *topo) mac(h *netns.Host) net.HardwareAddr {
	tp.t.Helper()
	var mac net.HardwareAddr
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Iface)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	})
	if err != nil {
		tp.t.Fatal(err)
	}
	return mac
}

func (tp *topo) write(name, content string) {
	tp.t.Helper()
	tmp := filepath.Join(tp.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		tp.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(tp.dir, name)); err != nil {
		tp.t.Fatal(err)
	}
}

func (tp *topo) clusterYAML() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    team: shop\n")
	pods := []struct {
		name, app string
		v4, v6    string
	}{
		{"srv-0", "srv", tp.srv.Addr.String(), tp.srv6.String()},
		{"cli-0", "cli", tp.cli.Addr.String(), tp.cli6.String()},
		{"cli-1", "cli", tp.atk4.String(), tp.atk6.String()},
	}
	for _, p := range pods {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: shop
  labels:
    app: %s
spec:
  containers:
  - name: main
    image: example.invalid/app:1
status:
  phase: Running
  podIP: %s
  podIPs:
  - ip: %s
  - ip: %s
`, p.name, p.app, p.v4, p.v4, p.v6)
	}
	return b.String()
}

// baseRules: nobody may touch /api/admin; cli pods may GET and POST the
// rest of /api. Everything else falls to the policy's default.
const baseRules = `  - action: Deny
    http:
    - paths:
      - prefix: /api/admin
  - action: Allow
    from:
    - podSelector:
        matchLabels:
          app: cli
    http:
    - methods: [GET, POST]
      paths:
      - prefix: /api
`

// policy writes an L7NetworkPolicy protecting the server pod's three
// server ports with baseRules and extra rules appended.
func (tp *topo) policy(mode, extra string) {
	tp.t.Helper()
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
  - port: %d
  mode: %s
  defaultAction: Deny
  rules:
%s%s`, goPort, nginxPort, pythonPort, mode, baseRules, extra))
}

// startAgent attaches the real agent to the server pod's bridge port.
func (tp *topo) startAgent() *agent {
	tp.t.Helper()
	tp.agent = startAgent(tp.t, tp.dir, tp.srv.Port)
	return tp.agent
}

// rawFlow prepares a hand-driven TCP connection from the attacker address
// of the given family to the server's port.
func (tp *topo) rawFlow(port int, v6 bool) *Flow {
	tp.t.Helper()
	if tp.link == nil {
		l, err := OpenLink(tp.cli)
		if err != nil {
			tp.t.Fatal(err)
		}
		tp.link = l
	}
	src, dst := tp.atk4, tp.srv.Addr
	if v6 {
		src, dst = tp.atk6, tp.srv6
	}
	if tp.lport == 0 {
		tp.lport = uint16(20000 + rand.IntN(30000))
	}
	tp.lport++ // distinct per flow: the link hands frames out by local port
	return NewFlow(tp.link, tp.srvMAC, netip.AddrPortFrom(src, tp.lport), netip.AddrPortFrom(dst, uint16(port)))
}

// srvAddr is host:port of the server's IPv4 pod address.
func (tp *topo) srvAddr(port int) string {
	return net.JoinHostPort(tp.srv.Addr.String(), fmt.Sprint(port))
}

func itoa(n int) string { return fmt.Sprint(n) }
