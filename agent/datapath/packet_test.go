package datapath

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
)

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// segment is one TCP segment of a test flow.
type segment struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    uint8
	payload  []byte
	ipOpts   int  // IPv4: bytes of NOP options; IPv6: a hop-by-hop and a destination options header
	ext6     int  // IPv6 (ipOpts 0): this many 8-byte extension headers, hop-by-hop then destination options
	fragMF   bool // IPv4: more-fragments set (a first fragment)
}

func csumAdd(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func csumFold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// bytes builds Ethernet + IPv4 or IPv6 + TCP with valid checksums.
func (s segment) bytes() []byte {
	tcp := make([]byte, 20+len(s.payload))
	binary.BigEndian.PutUint16(tcp[0:], s.src.Port())
	binary.BigEndian.PutUint16(tcp[2:], s.dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], s.seq)
	binary.BigEndian.PutUint32(tcp[8:], s.ack)
	tcp[12] = 5 << 4
	tcp[13] = s.flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], s.payload)

	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0, 0}
	if s.dst.Addr().Is4() {
		binary.BigEndian.PutUint16(eth[12:], 0x0800)
		ihl := 20 + s.ipOpts
		ip := make([]byte, ihl)
		ip[0] = 0x40 | byte(ihl/4)
		for i := 20; i < ihl; i++ {
			ip[i] = 1 // NOP
		}
		binary.BigEndian.PutUint16(ip[2:], uint16(ihl+len(tcp)))
		ip[6] = 0x40 // DF
		if s.fragMF {
			ip[6] = 0x20
		}
		ip[8] = 64
		ip[9] = 6
		src, dst := s.src.Addr().As4(), s.dst.Addr().As4()
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		binary.BigEndian.PutUint16(ip[10:], csumFold(csumAdd(0, ip)))
		ph := append(append(append([]byte{}, src[:]...), dst[:]...), 0, 6, byte(len(tcp)>>8), byte(len(tcp)))
		binary.BigEndian.PutUint16(tcp[16:], csumFold(csumAdd(csumAdd(0, ph), tcp)))
		return append(append(eth, ip...), tcp...)
	}
	binary.BigEndian.PutUint16(eth[12:], 0x86dd)
	var ext []byte
	next := byte(6)
	if s.ipOpts > 0 {
		// hop-by-hop (8 bytes) -> destination options (16 bytes) -> TCP
		ext = make([]byte, 24)
		ext[0], ext[1] = 60, 0
		ext[2], ext[3] = 1, 4 // PadN
		ext[8], ext[9] = 6, 1
		ext[10], ext[11] = 1, 12
		next = 0
	} else if s.ext6 > 0 {
		ext = make([]byte, 8*s.ext6)
		for i := 0; i < s.ext6; i++ {
			h := ext[8*i:]
			h[0] = 60 // destination options next
			if i == s.ext6-1 {
				h[0] = 6
			}
			h[2], h[3] = 1, 4 // PadN over the rest
		}
		next = 0 // hop-by-hop first
	}
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(ext)+len(tcp)))
	ip[6] = next
	ip[7] = 64
	src, dst := s.src.Addr().As16(), s.dst.Addr().As16()
	copy(ip[8:], src[:])
	copy(ip[24:], dst[:])
	ph := append(append(append([]byte{}, src[:]...), dst[:]...), 0, 0, byte(len(tcp)>>8), byte(len(tcp)), 0, 0, 0, 6)
	binary.BigEndian.PutUint16(tcp[16:], csumFold(csumAdd(csumAdd(0, ph), tcp)))
	return append(append(append(eth, ip...), ext...), tcp...)
}

// outcome is what the program did with a segment.
type outcome int

const (
	passed  outcome = iota // forwarded unchanged
	reset                  // rewritten into a RST to the server
	dropped                // TC_ACT_SHOT
	changed                // forwarded, but modified otherwise (a bug)
)

func (o outcome) String() string {
	return [...]string{"passed", "reset", "dropped", "changed"}[o]
}

// parsedTCP is the TCP view of an output packet.
type parsedTCP struct {
	src, dst   netip.AddrPort
	seq, ack   uint32
	flags      uint8
	payloadLen int
	csumOK     bool
}

func parseOut(b []byte) (parsedTCP, bool) {
	var p parsedTCP
	if len(b) < 14 {
		return p, false
	}
	var l4 []byte
	var ph []byte
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		ip := b[14:]
		ihl := int(ip[0]&0xf) * 4
		tot := int(binary.BigEndian.Uint16(ip[2:]))
		if csumFold(csumAdd(0, ip[:ihl])) != 0 || tot > len(ip) {
			return p, false
		}
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		l4 = ip[ihl:tot]
		ph = append(append([]byte{}, ip[12:20]...), 0, 6, byte(len(l4)>>8), byte(len(l4)))
		p.src, p.dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
	case 0x86dd:
		ip := b[14:]
		pl := int(binary.BigEndian.Uint16(ip[4:]))
		if 40+pl > len(ip) {
			return p, false
		}
		l4 = ip[40 : 40+pl]
		for nh := ip[6]; nh != 6; {
			if (nh != 0 && nh != 60) || len(l4) < 8 {
				return p, false
			}
			n := (int(l4[1]) + 1) * 8
			nh, l4 = l4[0], l4[n:]
		}
		ph = append(append([]byte{}, ip[8:40]...), 0, 0, byte(len(l4)>>8), byte(len(l4)), 0, 0, 0, 6)
		p.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[8:24])), 0)
		p.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[24:40])), 0)
	default:
		return p, false
	}
	if len(l4) < 20 {
		return p, false
	}
	p.src = netip.AddrPortFrom(p.src.Addr(), binary.BigEndian.Uint16(l4[0:]))
	p.dst = netip.AddrPortFrom(p.dst.Addr(), binary.BigEndian.Uint16(l4[2:]))
	p.seq = binary.BigEndian.Uint32(l4[4:])
	p.ack = binary.BigEndian.Uint32(l4[8:])
	p.flags = l4[13]
	p.payloadLen = len(l4) - int(l4[12]>>4)*4
	p.csumOK = csumFold(csumAdd(csumAdd(0, ph), l4)) == 0
	return p, true
}

// runSegment runs prog on s and classifies what it did.
func runSegment(t testing.TB, prog *ebpf.Program, s segment) (outcome, parsedTCP) {
	t.Helper()
	in := s.bytes()
	out := make([]byte, len(in)+256)
	ret, err := prog.Run(&ebpf.RunOptions{Data: in, DataOut: out})
	if err != nil {
		t.Fatalf("running program: %v", err)
	}
	if ret == 2 {
		return dropped, parsedTCP{}
	}
	if ret != 0 {
		t.Fatalf("program returned %d", ret)
	}
	p, ok := parseOut(out)
	if !ok {
		t.Fatalf("output is not a valid TCP packet: % x", out[:64])
	}
	if string(out[:len(in)]) == string(in) && p.payloadLen == len(s.payload) {
		return passed, p
	}
	if p.flags&tcpRST != 0 && p.payloadLen == 0 {
		return reset, p
	}
	return changed, p
}

// flow is a client connection to a server for tests.
type flow struct {
	t        testing.TB
	prog     *ebpf.Program
	src, dst netip.AddrPort
	seq      uint32 // next client sequence number
	ack      uint32
	ext6     int // IPv6 extension headers on the data segments sent
}

var (
	nextPort atomic.Uint32
	flowsMu  sync.Mutex
	lastFlow = map[string]*flow{} // program and 4-tuple -> the last test flow on it
)

// newFlow opens a connection (a SYN) from the next source port. Ports are
// reused after 40000 flows: as a real client would, the flow first ends the
// previous connection on the same 4-tuple with a RST at its next sequence
// number. Safe for concurrent use.
func newFlow(t testing.TB, prog *ebpf.Program, src netip.Addr, dst netip.AddrPort) *flow {
	port := uint16(20000 + nextPort.Add(1)%40000)
	f := &flow{t: t, prog: prog, src: netip.AddrPortFrom(src, port), dst: dst, seq: 1000, ack: 5000}
	key := fmt.Sprintf("%p %v %v", prog, f.src, dst)
	flowsMu.Lock()
	prev := lastFlow[key]
	lastFlow[key] = f
	flowsMu.Unlock()
	if prev != nil {
		runSegment(t, prog, segment{src: f.src, dst: dst, seq: prev.seq, flags: tcpRST})
	}
	if o, _ := runSegment(t, prog, segment{src: f.src, dst: dst, seq: f.seq - 1, flags: tcpSYN}); o != passed {
		t.Fatalf("SYN: %v", o)
	}
	f.synACK(f.seq)
	return f
}

// replyOf maps each to-server program of a test datapath to its reply
// program (registerReply).
var replyOf sync.Map

func registerReply(d *Datapath) {
	for _, p := range []*ebpf.Program{d.Ingress(), d.Egress()} {
		if p != nil {
			replyOf.Store(p, d.Reply())
		}
	}
}

// reply runs a segment from the server through the reply program.
func (f *flow) reply(seq, ack uint32, flags uint8, payload string) {
	f.t.Helper()
	r, ok := replyOf.Load(f.prog)
	if !ok {
		f.t.Fatal("no reply program registered for this flow's program")
	}
	s := segment{src: f.dst, dst: f.src, seq: seq, ack: ack, flags: flags, payload: []byte(payload)}
	if o, _ := runSegment(f.t, r.(*ebpf.Program), s); o != passed {
		f.t.Fatalf("server segment: %v", o)
	}
}

// synACK is the server accepting the connection: its stream starts at
// clientNext, the server's own sequence numbers at f.ack.
func (f *flow) synACK(clientNext uint32) { f.reply(f.ack-1, clientNext, tcpSYN|tcpACK, "") }

// serverACK is the server acknowledging the client's bytes before ack.
func (f *flow) serverACK(ack uint32) { f.reply(f.ack, ack, tcpACK, "") }

// send sends data as one segment at the flow's next sequence number.
func (f *flow) send(data string) outcome {
	f.t.Helper()
	o, _ := f.sendAt(f.seq, data)
	if o == passed {
		f.seq += uint32(len(data))
	}
	return o
}

func (f *flow) sendAt(seq uint32, data string) (outcome, parsedTCP) {
	f.t.Helper()
	return runSegment(f.t, f.prog, segment{src: f.src, dst: f.dst, seq: seq, ack: f.ack, flags: tcpACK | tcpPSH, payload: []byte(data), ext6: f.ext6})
}
