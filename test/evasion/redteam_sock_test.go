package evasion

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
	"golang.org/x/sys/unix"
)

// TestRedteamServerSockLinkLocal (rule 2, red team rt37; closed in the same
// session): the SYN-ACK check of bpf/include/server_sock.h looks the
// server's socket up with
// bpf_skc_lookup_tcp from the host side of the pod's veth. The helper
// passes that device's ifindex (in the node's namespace) as the lookup's
// dif. An IPv6 connection from a link-local source makes the server's child
// socket bound to the pod's eth0 (tcp_v6_init_req: ir_iif "so that link
// locals have meaning"; the child's sk_bound_dev_if = ir_iif), and the
// established lookup only matches a bound socket whose bound device is dif:
// the pod's eth0 index is not the node veth's. The lookup then finds the
// listener ([::]:port, unbound), whose bytes_received is 0, and the flow
// started in step behind the fast-open bytes the server holds. Now a lookup
// that does not find the connection's own socket (the listener, or
// nothing) on a pod whose namespace lets servers take fast-open data makes
// the flow refused (server_unverified).
//
// Steps, per server (fast open on for every listener, tcp_fastopen=0x403; a
// real cookie for each source fetched while Enforce); the attack's source is
// a link-local address fe80::74:21 sent from the client pod (a recorded pod
// interface: the source has cli-0's identity), to the server's IPv6 pod IP:
//
//	Enforce: SYN (no data, bad checksum) seq = ISN + len(head): recorded in
//	    syns, dropped by the server
//	policy file removed (the endpoint is not policed)
//	SYN seq = ISN + cookie + "GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\nX-Pad: p"
//	    the server takes the data: SYN-ACK ack = ISN + 1 + len(head)
//	policy file written again (Enforce)
//	the server's SYN-ACK retransmission matches the planted record; the
//	    socket lookup misses the child (bound to eth0) and finds the
//	    listener: refused on this fast-open pod (before: flow in step)
//	ACK + "\r\n\r\n": before the fix the server ended the held head and
//	    ran GET /api/admin/<tok> (Go, nginx, Python)
//
// Control: the very same steps from the global IPv6 address of the
// attacker (fd74:<n>::21): the lookup finds the child, the flow is refused.
func TestRedteamServerSockLinkLocal(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.74", "fd74", 1)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 10*time.Second)
	for _, s := range srvs {
		tp.rawControl(t, s, false)
		tp.rawControl(t, s, true)
	}
	ll := netip.MustParseAddr("fe80::74:21")
	cliMAC := tp.mac(tp.cli).String()
	tp.run(tp.srv, "ip", "-6", "neigh", "replace", ll.String(), "lladdr", cliMAC, "dev", "eth0", "nud", "permanent")
	gen := 1

	flowFrom := func(src netip.Addr, port int) *Flow {
		f := tp.rawFlow(port, true) // opens the link, takes a local port
		return NewFlow(tp.link, tp.srvMAC, netip.AddrPortFrom(src, f.Local.Port()), f.Remote)
	}
	cookieOpt := func(src netip.Addr, port int) []byte {
		cf := flowFrom(src, port)
		next, done := synAckWatch(t, tp, cf)
		defer done()
		must(t, cf.Send(Segment{Seq: cf.ISN, Flags: SYN, Options: append(MSSOption(1400), 34, 2, 1, 1)}))
		sa, ok := next(3 * time.Second)
		if !ok {
			t.Fatalf("no SYN-ACK to %s", cf.Local)
		}
		cookie := tfoCookie(sa.opts)
		if len(cookie) == 0 {
			t.Fatalf("no fast-open cookie for %s in %x", cf.Local, sa.opts)
		}
		must(t, cf.Send(Segment{Seq: cf.ISN + 1, Ack: sa.seq + 1, Flags: RST | ACK}))
		return append(MSSOption(1400), append([]byte{34, byte(2 + len(cookie))}, cookie...)...)
	}
	// Over a plain handshake from the link-local source, the server's child
	// socket (bound to eth0) is not found either, and this pod lets servers
	// take fast-open data: the connection is refused (server_unverified),
	// so even an allowed request is reset and never runs; a denied one too.
	for _, s := range srvs {
		f := flowFrom(ll, s.Port())
		must(t, f.Handshake(nil, 3*time.Second))
		ctl := token("/api/v1/llctl")
		must(t, f.Data(f.ISN+1, request(ctl)))
		if resp, rst := f.Response("\r\n\r\n", 2*time.Second); !rst {
			t.Errorf("%s: allowed request from %s on a fast-open pod not refused: %s", s.Name(), ll, describe(resp, rst))
		}
		expectNeverRun(t, s, ctl, "GET /api/v1/... from the link-local source of a fast-open pod (its server socket cannot be verified)")
		f.Abort()
		f = flowFrom(ll, s.Port())
		must(t, f.Handshake(nil, 3*time.Second))
		den := token("llden")
		must(t, f.Data(f.ISN+1, request("/api/admin/"+den)))
		resp, rst := f.Response("\r\n\r\n", 2*time.Second)
		if !rst {
			t.Errorf("%s: denied request from %s not reset: %s", s.Name(), ll, describe(resp, rst))
		}
		expectNeverRun(t, s, den, "GET /api/admin/... from the link-local source over a plain handshake")
		f.Abort()
	}
	srcs := map[string]netip.Addr{"linklocal": ll, "global": tp.atk6}
	opts := map[string][]byte{}
	for k, src := range srcs {
		opts[k] = cookieOpt(src, srvs[0].Port())
	}

	cs := map[string]*heldConn{}
	for _, s := range srvs {
		for k, src := range srcs {
			cs[s.Name()+"/"+k] = plantedConn(t, tp, flowFrom(src, s.Port()), "sock"+k)
		}
	}

	restore := unpolice(t, tp, a, &gen)
	for _, s := range srvs {
		for k := range srcs {
			cs[s.Name()+"/"+k].sendFastOpen(t, opts[k])
		}
	}
	// The server's fast-open children: the link-local ones are bound to
	// eth0 (ss prints the peer as [fe80::...]%eth0).
	t.Logf("server sockets in SYN_RECV:\n%s", tp.run(tp.srv, "ss", "-tnH", "state", "syn-recv"))
	time.Sleep(200 * time.Millisecond)
	restore()

	forServers(t, srvs, func(t *testing.T, s server) {
		g, l := cs[s.Name()+"/global"], cs[s.Name()+"/linklocal"]
		defer g.done()
		defer l.done()
		gresp, grst := endHeldHead(t, g.f, g.next)
		t.Logf("%s control (global source %s): %s", s.Name(), g.f.Local.Addr(), describe(gresp, grst))
		if ranOn(s, g.tok) {
			t.Fatalf("control: from the global address the head ran on %s too (%s): the socket check does not hold here at all", s.Name(), describe(gresp, grst))
		}
		resp, rst := endHeldHead(t, l.f, l.next)
		t.Logf("%s attack (link-local source %s): %s; agent: %s", s.Name(), l.f.Local.Addr(), describe(resp, rst), metricsSummary(a))
		expectNeverRun(t, s, l.tok, fmt.Sprintf("GET /api/admin/%s, fast-open SYN data from a link-local source taken while the endpoint was not policed; the server's child socket (bound to eth0) not found by the SYN-ACK's lookup (%s)", l.tok, describe(resp, rst)))
	})
}

// TestRedteamServerSockBoundListener is TestRedteamServerSockLinkLocal's
// cause over IPv4, with no link-local address: a server whose listener is
// bound to its interface (SO_BINDTODEVICE "eth0", as HAProxy's `bind ...
// interface eth0` or any service pinned to one device does) has children
// bound to eth0 too, and bpf_skc_lookup_tcp from the node's veth (dif = the
// veth's ifindex) matches neither them nor the listener: the lookup returns
// nothing, and nothing reads as "no bytes held". The same steps as
// TestRedteamSynRecordPlantedTFO (plant a bad-checksum SYN at ISN +
// len(head) while Enforce; fast-open SYN with the denied head while the
// policy file is removed; the resent SYN-ACK after the policy is back; ACK +
// "\r\n\r\n") make the Go server, bound to eth0, run GET /api/admin/<tok>.
//
// Closed in the same session: a lookup that finds nothing on a pod whose
// namespace lets servers take fast-open data makes the flow refused
// (server_unverified). On such a pod every connection to the bound server
// is refused, the allowed raw request too (docs/security.md).
//
// Control: the very same steps at nginx and Python in the same pod (not
// bound): refused; the raw allowed control passes on those two and a plain
// denied request is reset on all three.
func TestRedteamServerSockBoundListener(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.74", "fd74", 2)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.policy("Enforce", "")
	bound := startGoBound(t, tp.srv, goPort)
	srvs := append([]server{bound}, tp.servers("nginx", "python")...)
	a := tp.startAgent()
	waitGeneration(t, a, 1, 10*time.Second)
	for _, s := range srvs {
		if s == server(bound) {
			f := tp.connect(t, s.Port(), false, nil)
			ctl := token("/api/v1/boundctl")
			must(t, f.Data(f.ISN+1, request(ctl)))
			if resp, rst := f.Response("\r\n\r\n", 2*time.Second); !rst {
				t.Errorf("%s: allowed request to the bound server of a fast-open pod not refused: %s", s.Name(), describe(resp, rst))
			}
			expectNeverRun(t, s, ctl, "GET /api/v1/... to a device-bound server of a fast-open pod (its sockets cannot be verified)")
		} else {
			tp.rawControl(t, s, false)
		}
		tp.rawDenied(t, s, "boundden")
	}
	tfoOpt := fastOpenOption(t, tp, goPort)
	gen := 1

	cs := plantedConns(t, tp, srvs, "sockbound")

	restore := unpolice(t, tp, a, &gen)
	for _, s := range srvs {
		cs[s.Name()].sendFastOpen(t, tfoOpt)
	}
	t.Logf("server sockets in SYN_RECV:\n%s", tp.run(tp.srv, "ss", "-tnH", "state", "syn-recv"))
	time.Sleep(200 * time.Millisecond)
	restore()

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
		expectNeverRun(t, s, c.tok, fmt.Sprintf("GET /api/admin/%s, fast-open SYN data taken while the endpoint was not policed, by a server whose listener is bound to eth0: the SYN-ACK's socket lookup finds nothing (%s)", c.tok, describe(resp, rst)))
	})
}

// startGoBound is startGoServer (both families) with the listener bound to
// the pod's eth0 (SO_BINDTODEVICE); fast open comes from the namespace's
// tcp_fastopen (0x400: every listener).
func startGoBound(t *testing.T, h *netns.Host, port int) *goServer {
	t.Helper()
	var l net.Listener
	must(t, h.Do(func() (err error) {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "eth0")
			}); err != nil {
				return err
			}
			return serr
		}}
		l, err = lc.Listen(t.Context(), "tcp", fmt.Sprintf(":%d", port))
		return err
	}))
	s := &goServer{port: port}
	srv := &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	serveUntilCleanup(t, srv, l)
	return s
}
