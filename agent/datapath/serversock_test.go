package datapath

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// inNewNetns runs fn on a thread of its own in a new network namespace with
// lo up and addrs on it. The programs' test runs from that thread see that
// namespace (BPF_PROG_TEST_RUN gives the packet its loopback device), so
// socket lookups find the sockets fn makes. The thread is not reused.
func inNewNetns(t *testing.T, addrs []netip.Addr, fn func()) {
	t.Helper()
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)      // also when fn's t.Fatal ends the goroutine
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		if err = unix.Unshare(unix.CLONE_NEWNET); err != nil {
			err = fmt.Errorf("new network namespace: %w", err)
			return
		}
		var lo netlink.Link
		if lo, err = netlink.LinkByName("lo"); err != nil {
			return
		}
		if err = netlink.LinkSetUp(lo); err != nil {
			return
		}
		for _, a := range addrs {
			n, _ := netlink.ParseAddr(netip.PrefixFrom(a, a.BitLen()).String())
			if err = netlink.AddrAdd(lo, n); err != nil {
				err = fmt.Errorf("adding %v to lo: %w", a, err)
				return
			}
		}
		fn()
	}()
	<-done
	if err != nil {
		t.Fatal(err)
	}
}

// tcpConn connects client to server over loopback (server listening) and
// returns the two ends' descriptors; the client sends n bytes, which the
// server's socket receives without the server reading them.
func tcpConn(client, server netip.AddrPort, n int) (cfd, sfd int) {
	family := unix.AF_INET
	if server.Addr().Is6() {
		family = unix.AF_INET6
	}
	sa := func(ap netip.AddrPort) unix.Sockaddr {
		if ap.Addr().Is6() {
			return &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
		}
		return &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	lfd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	must(err)
	defer unix.Close(lfd)
	must(unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1))
	must(unix.Bind(lfd, sa(server)))
	must(unix.Listen(lfd, 8))
	cfd, err = unix.Socket(family, unix.SOCK_STREAM, 0)
	must(err)
	must(unix.Bind(cfd, sa(client)))
	must(unix.Connect(cfd, sa(server)))
	sfd, _, err = unix.Accept(lfd)
	must(err)
	if n > 0 {
		_, err = unix.Write(cfd, make([]byte, n))
		must(err)
	}
	return cfd, sfd
}

// TestSynAckServerHoldsData: a SYN-ACK that answers the SYN recorded for
// its connection starts a flow in step, unless the server's own socket
// (looked up in the pod's namespace, recorded with its interface) has
// received client bytes already: bytes the programs never let through (the
// red team's planted SYN record with fast-open data taken while the
// endpoint was not policed, rt36). Such a flow is refused once enforced.
// Real sockets: a loopback connection in a namespace of the test's own,
// whose server has received data or not.
func TestSynAckServerHoldsData(t *testing.T) {
	d := gapTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		dst      netip.AddrPort
		src      netip.Addr
		sent     int  // bytes the client sent on the real connection
		recordNs bool // the pod interface's namespace is recorded
		want     outcome
	}{
		{"the server holds client bytes", orders4, web4, 5, true, reset},
		{"the server holds none", orders4, web4, 0, true, passed},
		{"IPv6: the server holds client bytes", orders6, web6, 5, true, reset},
		{"IPv6: the server holds none", orders6, web6, 0, true, passed},
		// No lookup: rule 2 alone, which this SYN-ACK satisfies.
		{"no namespace recorded for the interface", orders4, web4, 5, false, passed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns := int32(-1) // the test's namespace: the datapath's own
			pi := PodInterface{Ifindex: 1, Addrs: []netip.Addr{c.dst.Addr()}}
			if c.recordNs {
				pi.Netns = &ns
			}
			if err := d.SetPodInterface(pi); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = d.DeletePodInterface(1) })
			src := netip.AddrPortFrom(c.src, uint16(20000+nextPort.Add(1)%40000))
			var got outcome
			inNewNetns(t, []netip.Addr{c.dst.Addr(), c.src}, func() {
				cfd, sfd := tcpConn(src, c.dst, c.sent)
				defer unix.Close(cfd)
				defer unix.Close(sfd)
				if o, _ := runSegment(t, d.Ingress(), segment{src: src, dst: c.dst, seq: 700, flags: tcpSYN}); o != passed {
					panic(fmt.Sprintf("SYN: %v", o))
				}
				f := &flow{t: t, prog: d.Ingress(), src: src, dst: c.dst, seq: 701, ack: 5000}
				f.synACK(701)
				got = f.send(okReq)
			})
			if got != c.want {
				t.Fatalf("an allowed request on the flow: %v, want %v", got, c.want)
			}
		})
	}
}
