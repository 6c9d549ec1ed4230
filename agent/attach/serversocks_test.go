package attach

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
	"github.com/vishvananda/netlink"
)

// TestServerReceived: the server sockets of a pod's namespace, found by
// the namespace's id, each with the bytes it received from its client (what
// a restarted agent checks its flows against); an unknown id answers
// nothing.
func TestServerReceived(t *testing.T) {
	needRoot(t)
	n := netns.New(t, "10.70.2.0/24")
	pod, cli := n.AddHost("pod", "10.70.2.10"), n.AddHost("cli", "10.70.2.20")
	id := peerNetnsid(t, pod)
	ln, err := pod.Listen("tcp", "10.70.2.10:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := cli.DialContext(context.Background(), "tcp", "10.70.2.10:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const sent = 123
	if _, err := c.Write(make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	socks, err := ServerReceived(id)
	if err != nil {
		t.Fatalf("listing the pod's sockets: %v", err)
	}
	pair := SockPair{
		Local:  netip.AddrPortFrom(netip.AddrFrom16(pod.Addr.As16()), 9000),
		Remote: netip.AddrPortFrom(netip.AddrFrom16(cli.Addr.As16()), uint16(c.LocalAddr().(*net.TCPAddr).Port)),
	}
	if got, found := socks[pair]; !found || got != (SockReceived{Bytes: sent}) {
		t.Errorf("the server's socket %v: received %+v (found %v), want %d bytes in order; listed: %v", pair, got, found, sent, socks)
	}
	if _, err := ServerReceived(1 << 30); err == nil {
		t.Error("a namespace id nothing has answered")
	}

	// A handshake the server has not completed: its SYN-ACKs go to a MAC
	// address nobody holds, so its socket stays a request socket. It is
	// listed as having received nothing.
	half := n.AddHost("half", "10.70.2.30")
	if err := pod.StrandHandshakes(half.Addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go half.DialContext(ctx, "tcp", "10.70.2.10:9000")
	deadline := time.Now().Add(5 * time.Second)
	for {
		socks, err := ServerReceived(id)
		if err != nil {
			t.Fatalf("listing the pod's sockets: %v", err)
		}
		var req []SockReceived
		for p, r := range socks {
			if p.Remote.Addr() == netip.AddrFrom16(half.Addr.As16()) {
				req = append(req, r)
			}
		}
		if len(req) == 1 && req[0] == (SockReceived{}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request socket of a handshake in progress: listed %v, want one that received nothing; all: %v", req, socks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// peerNetnsid is the id (in this namespace) of the namespace of pod, by its
// veth.
func peerNetnsid(t *testing.T, pod *netns.Host) int32 {
	t.Helper()
	peers, err := LocalVethPeers()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		for _, a := range p.Addrs {
			if a == pod.Addr {
				return p.Netnsid
			}
		}
	}
	t.Fatalf("no veth peer holds %v: %v", pod.Addr, peers)
	return -1
}

// TestAddSocketsAmbiguous: a connection listed twice (a kernel's duplicate
// request socket for one SYN beside the full socket the other became, in
// either order, or across the IPv4 and IPv6 listings) is Ambiguous, whatever
// either counted: its request socket's zero must not stand for the full
// socket's bytes. Time-wait sockets (no TCP info) are not listed.
func TestAddSocketsAmbiguous(t *testing.T) {
	server, client := net.ParseIP("10.70.3.10"), net.ParseIP("10.70.3.20")
	id := netlink.SocketID{SourcePort: 9000, DestinationPort: 40000, Source: server, Destination: client}
	full := &netlink.InetDiagTCPInfoResp{
		InetDiagMsg: &netlink.Socket{State: netlink.TCP_ESTABLISHED, ID: id},
		TCPInfo:     &netlink.TCPInfo{Bytes_received: 77},
	}
	req := &netlink.InetDiagTCPInfoResp{InetDiagMsg: &netlink.Socket{State: netlink.TCP_SYN_RECV, ID: id}}
	mapped := id
	mapped.Source, mapped.Destination = server.To16(), client.To16()
	fullV6 := &netlink.InetDiagTCPInfoResp{
		InetDiagMsg: &netlink.Socket{State: netlink.TCP_ESTABLISHED, ID: mapped},
		TCPInfo:     &netlink.TCPInfo{Bytes_received: 77},
	}
	tw := &netlink.InetDiagTCPInfoResp{InetDiagMsg: &netlink.Socket{State: netlink.TCP_TIME_WAIT, ID: id}}
	pair := SockPair{netip.MustParseAddrPort("[::ffff:10.70.3.10]:9000"), netip.MustParseAddrPort("[::ffff:10.70.3.20]:40000")}
	for _, c := range []struct {
		name     string
		listings [][]*netlink.InetDiagTCPInfoResp
		want     SockReceived
	}{
		{"full", [][]*netlink.InetDiagTCPInfoResp{{full}}, SockReceived{Bytes: 77}},
		{"request", [][]*netlink.InetDiagTCPInfoResp{{req}}, SockReceived{}},
		{"full then request", [][]*netlink.InetDiagTCPInfoResp{{full, req}}, SockReceived{Ambiguous: true}},
		{"request then full", [][]*netlink.InetDiagTCPInfoResp{{req, full}}, SockReceived{Bytes: 77, Ambiguous: true}},
		{"request in the IPv4 listing, full in the IPv6 one", [][]*netlink.InetDiagTCPInfoResp{{req}, {fullV6}}, SockReceived{Bytes: 77, Ambiguous: true}},
		{"time-wait beside a new one", [][]*netlink.InetDiagTCPInfoResp{{tw, full}}, SockReceived{Bytes: 77}},
	} {
		socks := map[SockPair]SockReceived{}
		for _, l := range c.listings {
			addSockets(socks, l)
		}
		if got, found := socks[pair]; !found || got != c.want {
			t.Errorf("%s: %+v (found %v), want %+v", c.name, got, found, c.want)
		}
	}
	socks := map[SockPair]SockReceived{}
	addSockets(socks, []*netlink.InetDiagTCPInfoResp{tw})
	if len(socks) != 0 {
		t.Errorf("a time-wait socket alone: listed %v", socks)
	}
}
