package evasion

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/axon-dev/axon/test/netns"
)

// Link is an AF_PACKET socket on one host's interface: it sends frames as
// built and sees every frame the interface receives.
type Link struct {
	fd      int
	ifindex int
	MAC     net.HardwareAddr // the interface's own address

	mu     sync.Mutex
	subs   map[uint16]chan Parsed // by local (destination) port
	closed chan struct{}
	done   chan struct{}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenLink opens an AF_PACKET socket on h's interface, inside h's network
// namespace. Close it when done.
func OpenLink(h *netns.Host) (*Link, error) {
	l := &Link{subs: map[uint16]chan Parsed{}, closed: make(chan struct{}), done: make(chan struct{})}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Iface)
		if err != nil {
			return fmt.Errorf("finding %s: %w", h.Iface, err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("opening packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("binding packet socket: %w", err)
		}
		tv := unix.Timeval{Usec: 50_000}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return fmt.Errorf("setting receive timeout: %w", err)
		}
		l.fd, l.ifindex, l.MAC = fd, ifi.Index, ifi.HardwareAddr
		return nil
	})
	if err != nil {
		return nil, err
	}
	go l.readLoop()
	return l, nil
}

func (l *Link) readLoop() {
	defer close(l.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-l.closed:
			return
		default:
		}
		n, from, err := unix.Recvfrom(l.fd, buf, 0)
		if err != nil {
			continue // timeout: check for close
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		p, ok := ParseFrame(buf[:n])
		if !ok {
			continue
		}
		p.Payload = bytes.Clone(p.Payload)
		l.mu.Lock()
		ch := l.subs[p.DstPort]
		l.mu.Unlock()
		if ch != nil {
			select {
			case ch <- p:
			default: // a flow that stopped reading loses frames
			}
		}
	}
}

// Send transmits one frame.
func (l *Link) Send(frame []byte) error {
	if err := unix.Sendto(l.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: l.ifindex}); err != nil {
		return fmt.Errorf("sending frame: %w", err)
	}
	return nil
}

// Close stops the reader and closes the socket.
func (l *Link) Close() {
	select {
	case <-l.closed:
		return
	default:
	}
	close(l.closed)
	<-l.done
	unix.Close(l.fd)
}

func (l *Link) subscribe(port uint16) chan Parsed {
	ch := make(chan Parsed, 1024)
	l.mu.Lock()
	l.subs[port] = ch
	l.mu.Unlock()
	return ch
}

// Flow is one TCP connection driven by hand over a Link: the test process
// is the client's TCP stack. Local is an address the client host's kernel
// does not own (so it never answers the server's segments with a reset);
// the server reaches it through a static neighbour entry for the Link's MAC.
type Flow struct {
	Link      *Link
	ServerMAC net.HardwareAddr
	Local     netip.AddrPort
	Remote    netip.AddrPort
	Tags      []VLAN // VLAN tags on every frame sent

	ISN    uint32 // our initial sequence number
	SrvISN uint32 // the server's, after Handshake
	Next   uint32 // our next sequence number (after the handshake: ISN+1)

	in      chan Parsed
	mu      sync.Mutex
	resp    []byte // in-order server payload received
	srvNext uint32
	gotRST  bool
}

// NewFlow prepares a flow from local to remote; nothing is sent yet.
func NewFlow(l *Link, serverMAC net.HardwareAddr, local, remote netip.AddrPort) *Flow {
	isn := rand.Uint32()
	return &Flow{Link: l, ServerMAC: serverMAC, Local: local, Remote: remote,
		ISN: isn, Next: isn + 1, in: l.subscribe(local.Port())}
}

// Packet returns the IP packet (no Ethernet header) carrying s, with the
// flow's ports filled in.
func (f *Flow) Packet(s Segment) []byte {
	s.SrcPort, s.DstPort = f.Local.Port(), f.Remote.Port()
	tcp := s.Marshal(f.Local.Addr(), f.Remote.Addr())
	return f.IPPacket(tcp, nil)
}

// IPPacket wraps a transport payload in an IPv4 or IPv6 header from the
// flow's local to its remote address, with ext headers for IPv6.
func (f *Flow) IPPacket(tcp []byte, ext []ExtHeader) []byte {
	if f.Local.Addr().Is4() {
		return IPv4{Src: f.Local.Addr(), Dst: f.Remote.Addr(), Proto: ProtoTCP, ID: uint16(rand.Uint32())}.Marshal(tcp)
	}
	return IPv6{Src: f.Local.Addr(), Dst: f.Remote.Addr(), Proto: ProtoTCP, Ext: ext}.Marshal(tcp)
}

// SendIP sends one IP packet in an Ethernet frame to the server's MAC.
func (f *Flow) SendIP(pkt []byte) error {
	et := uint16(EtherIPv4)
	if pkt[0]>>4 == 6 {
		et = EtherIPv6
	}
	return f.Link.Send(Ethernet(f.ServerMAC, f.Link.MAC, f.Tags, et, pkt))
}

// Send sends one segment of the flow.
func (f *Flow) Send(s Segment) error {
	return f.SendIP(f.Packet(s))
}

// Data sends payload at seq with ACK|PSH (acknowledging the server's SYN)
// and flags added.
func (f *Flow) Data(seq uint32, payload []byte) error {
	return f.Send(Segment{Seq: seq, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: payload})
}

// Handshake sends a SYN (with synData, if any) and, on the server's SYN-ACK,
// the ACK that completes the connection.
func (f *Flow) Handshake(synData []byte, timeout time.Duration) error {
	syn := Segment{Seq: f.ISN, Flags: SYN, Options: MSSOption(1400), Payload: synData}
	if err := f.Send(syn); err != nil {
		return err
	}
	deadline := time.After(timeout)
	// A SYN without data is sent again every second, as a TCP stack does:
	// a server whose accept queue is full drops it.
	resend := time.NewTicker(time.Second)
	defer resend.Stop()
	for {
		select {
		case <-resend.C:
			if len(synData) == 0 {
				if err := f.Send(syn); err != nil {
					return err
				}
			}
		case p := <-f.in:
			if p.Src != f.Remote.Addr() || p.SrcPort != f.Remote.Port() {
				continue
			}
			if p.Flags&RST != 0 {
				return errors.New("server reset the connection during the handshake")
			}
			if p.Flags&(SYN|ACK) != SYN|ACK || p.Ack != f.ISN+1 {
				continue
			}
			f.SrvISN = p.Seq
			f.srvNext = p.Seq + 1
			return f.Send(Segment{Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK})
		case <-deadline:
			return fmt.Errorf("no SYN-ACK from %s within %v", f.Remote, timeout)
		}
	}
}

// drain moves received segments into the response buffer.
func (f *Flow) drain() {
	for {
		select {
		case p := <-f.in:
			if p.Src != f.Remote.Addr() || p.SrcPort != f.Remote.Port() {
				continue
			}
			f.mu.Lock()
			if p.Flags&RST != 0 {
				f.gotRST = true
			}
			if len(p.Payload) > 0 && p.Seq == f.srvNext {
				f.resp = append(f.resp, p.Payload...)
				f.srvNext += uint32(len(p.Payload))
			}
			f.mu.Unlock()
		default:
			return
		}
	}
}

// Response waits up to timeout for the server's in-order payload to contain
// want (or for a reset) and returns what arrived and whether a RST came.
func (f *Flow) Response(want string, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		f.drain()
		f.mu.Lock()
		resp, rst := string(f.resp), f.gotRST
		f.mu.Unlock()
		if (want != "" && strings.Contains(resp, want)) || rst || time.Now().After(deadline) {
			return resp, rst
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Abort resets the connection at our next sequence number.
func (f *Flow) Abort() {
	_ = f.Send(Segment{Seq: f.Next, Ack: f.srvNext, Flags: RST | ACK})
}
