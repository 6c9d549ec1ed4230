package attach

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// SockPair names a TCP socket by its own address and its peer's.
type SockPair struct {
	Local, Remote netip.AddrPort
}

// SockReceived is what a TCP socket has received from its peer.
type SockReceived struct {
	Bytes      uint64 // the stream's bytes, in order (tcpi_bytes_received)
	OutOfOrder uint32 // segments that arrived out of order (tcpi_rcv_ooopack)
	// Ambiguous: more than one socket was listed for the connection (a
	// kernel's duplicate request socket for one SYN beside the full
	// socket another became): which one holds its bytes is unknown.
	Ambiguous bool
}

// ServerReceived lists the TCP sockets of the network namespace with id
// (in this namespace's ids, as a veth's link-netnsid; negative: this
// namespace), each with what it has received from its peer. Addresses are
// IPv6 (IPv4 ones mapped). A handshake the server has not completed (a
// request socket) is listed as having received nothing; a connection
// listed twice is Ambiguous. It fails when the
// namespace cannot be found or its list is incomplete.
func ServerReceived(id int32) (map[SockPair]SockReceived, error) {
	var h *netlink.Handle
	var err error
	if id < 0 {
		h, err = netlink.NewHandle(unix.NETLINK_INET_DIAG)
	} else {
		ns, found := openNetnsID(id)
		if !found {
			return nil, fmt.Errorf("network namespace %d not found", id)
		}
		h, err = netlink.NewHandleAt(ns, unix.NETLINK_INET_DIAG)
		ns.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("opening sock_diag: %w", err)
	}
	defer h.Close()
	socks := map[SockPair]SockReceived{}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		list, err := h.SocketDiagTCPInfo(family)
		if err != nil {
			// An interrupted dump too: a socket may be missing.
			return nil, fmt.Errorf("listing TCP sockets (family %d): %w", family, err)
		}
		addSockets(socks, list)
	}
	return socks, nil
}

// addSockets adds the TCP sockets of one sock_diag listing to socks.
func addSockets(socks map[SockPair]SockReceived, list []*netlink.InetDiagTCPInfoResp) {
	for _, s := range list {
		if s.InetDiagMsg == nil {
			continue
		}
		var r SockReceived
		switch {
		case s.TCPInfo != nil:
			r = SockReceived{Bytes: s.TCPInfo.Bytes_received, OutOfOrder: s.TCPInfo.Rcv_ooopack}
		case s.InetDiagMsg.State == netlink.TCP_SYN_RECV:
			// A request socket (no TCP info): the client has not
			// completed the handshake, and the server holds none
			// of its bytes (it takes a fast-open SYN's data into a
			// full socket).
		default:
			continue // a time-wait socket
		}
		id := s.InetDiagMsg.ID
		pair := SockPair{addrPort(id.Source, id.SourcePort), addrPort(id.Destination, id.DestinationPort)}
		if _, dup := socks[pair]; dup {
			r.Ambiguous = true
		}
		socks[pair] = r
	}
}

func addrPort(ip net.IP, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip.To16())
	return netip.AddrPortFrom(a, port)
}

// openNetnsID opens the namespace with id by the path it was last found at,
// else by a scan of the node's namespaces.
func openNetnsID(id int32) (netns.NsHandle, bool) {
	if ns, ok := nsPaths.open(id); ok {
		return ns, true
	}
	var out netns.NsHandle = -1
	_ = scanNetns(map[int]bool{int(id): true}, func(_ int, path string, _ netns.NsHandle) error {
		ns, err := netns.GetFromPath(path)
		if err == nil {
			out = ns
		}
		return nil
	})
	return out, out.IsOpen()
}
