package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

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
			n.Flags = unix.IFA_F_NODAD // usable at once
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

// podInterface1 records interface 1 as the pod at addr until the test ends;
// with recordNs its namespace is the test's own (the datapath's), where
// socket lookups find the sockets the test makes.
func podInterface1(t *testing.T, d *Datapath, addr netip.Addr, recordNs, fastOpen bool) {
	t.Helper()
	ns := int32(-1)
	pi := PodInterface{Ifindex: 1, Addrs: []netip.Addr{addr}, FastOpen: fastOpen}
	if recordNs {
		pi.Netns = &ns
	}
	if err := d.SetPodInterface(pi); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.DeletePodInterface(1) })
}

// serverSockets are the sockets a case of TestSynAckServerHoldsData makes
// in its namespace for the SYN-ACK's lookup to find.
type serverSockets int

const (
	noSockets    serverSockets = iota // nothing listens
	listenerOnly                      // a listener, no connection (as under SYN cookies)
	connection                        // a connection, its server socket accepted
)

// tcpSendQueue is Linux's TCP_SEND_QUEUE (include/uapi/linux/tcp.h), the
// queue TCP_REPAIR_QUEUE selects for TCP_QUEUE_SEQ.
const tcpSendQueue = 2

// sockets makes what want says for a connection from client to server over
// loopback; on a connection the client sends n bytes, which the server's
// socket receives without the server reading them. It returns the
// descriptors to close and, for a connection, the sequence number of the
// client's first byte (its ISN + 1), else 701.
func sockets(want serverSockets, client, server netip.AddrPort, n int) ([]int, uint32) {
	if want == noSockets {
		return nil, 701
	}
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
	// IPv6 addresses new on lo may take a moment to be usable.
	settle := func(op func() error) error {
		var err error
		for range 100 {
			if err = op(); !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENETUNREACH) {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
		return err
	}
	lfd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	must(err)
	must(unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1))
	must(settle(func() error { return unix.Bind(lfd, sa(server)) }))
	must(unix.Listen(lfd, 8))
	if want == listenerOnly {
		return []int{lfd}, 701
	}
	cfd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	must(err)
	must(settle(func() error { return unix.Bind(cfd, sa(client)) }))
	must(settle(func() error { return unix.Connect(cfd, sa(server)) }))
	sfd, _, err := unix.Accept(lfd)
	must(err)
	if n > 0 {
		_, err = unix.Write(cfd, make([]byte, n))
		must(err)
	}
	// In repair mode the send queue's sequence number is the client's
	// next byte to write (a socket closed in repair mode sends nothing).
	must(unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 1))
	must(unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, tcpSendQueue))
	next, err := unix.GetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ)
	must(err)
	return []int{lfd, cfd, sfd}, uint32(next) - uint32(n)
}

// TestSynAckServerHoldsData: a SYN-ACK that answers the SYN recorded for
// its connection starts a flow in step, unless the server's own socket
// (looked up in the pod's namespace, recorded with its interface) has
// received client bytes already: bytes the programs never let through (the
// red team's planted SYN record with fast-open data taken while the
// endpoint was not policed, rt36). And on a pod whose namespace lets
// servers take fast-open data, unless the lookup does not find the
// connection's socket (it cannot find device-bound ones: rt37). Such a
// flow is refused once enforced. Real sockets in a namespace of the test's
// own: a loopback connection whose server has received data or not, a
// listener alone, nothing.
func TestSynAckServerHoldsData(t *testing.T) {
	d := gapTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		dst      netip.AddrPort
		src      netip.Addr
		sockets  serverSockets
		sent     int  // bytes the client sent on the real connection
		recordNs bool // the pod interface's namespace is recorded
		fastOpen bool // and it lets servers take fast-open data
		want     outcome
	}{
		{"the server holds client bytes", orders4, web4, connection, 5, true, false, reset},
		{"the server holds none", orders4, web4, connection, 0, true, true, passed},
		{"IPv6: the server holds client bytes", orders6, web6, connection, 5, true, false, reset},
		{"IPv6: the server holds none", orders6, web6, connection, 0, true, true, passed},
		{"only the listener found, fast open on", orders4, web4, listenerOnly, 0, true, true, reset},
		{"only the listener found, fast open off", orders4, web4, listenerOnly, 0, true, false, passed},
		{"nothing found, fast open on", orders6, web6, noSockets, 0, true, true, reset},
		{"nothing found, fast open off", orders6, web6, noSockets, 0, true, false, passed},
		// No lookup: rule 2 alone, which this SYN-ACK satisfies.
		{"no namespace recorded for the interface", orders4, web4, connection, 5, false, true, passed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			podInterface1(t, d, c.dst.Addr(), c.recordNs, c.fastOpen)
			src := netip.AddrPortFrom(c.src, uint16(20000+nextPort.Add(1)%40000))
			var got outcome
			inNewNetns(t, []netip.Addr{c.dst.Addr(), c.src}, func() {
				fds, first := sockets(c.sockets, src, c.dst, c.sent)
				for _, fd := range fds {
					defer unix.Close(fd)
				}
				// The flow is the real connection's (ax_server_conn
				// checks its data against the server's socket).
				if o, _ := runSegment(t, d.Ingress(), segment{src: src, dst: c.dst, seq: first - 1, flags: tcpSYN}); o != passed {
					panic(fmt.Sprintf("SYN: %v", o))
				}
				f := &flow{t: t, prog: d.Ingress(), src: src, dst: c.dst, seq: first, ack: 5000}
				f.synACK(first)
				got = f.send(okReq)
			})
			if got != c.want {
				t.Fatalf("an allowed request on the flow: %v, want %v", got, c.want)
			}
		})
	}
}
