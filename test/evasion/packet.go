package evasion

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// TCP flags.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
)

// EtherTypes and IP protocol numbers the builders use.
const (
	EtherIPv4  = 0x0800
	EtherIPv6  = 0x86dd
	Ether8021Q = 0x8100
	Ether8021A = 0x88a8
	ProtoTCP   = 6
	ProtoDst   = 60 // IPv6 destination options
)

// Segment is one TCP segment before it is put into an IP packet.
type Segment struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16 // 0 means 65535
	Urgent           uint16
	Options          []byte // padded to 4 bytes by Marshal
	Payload          []byte
	BadChecksum      bool // store the correct checksum plus one
}

// Marshal returns the TCP header and payload with the checksum over the
// pseudo header of src and dst (IPv4 or IPv6).
func (s Segment) Marshal(src, dst netip.Addr) []byte {
	opts := append([]byte(nil), s.Options...)
	for len(opts)%4 != 0 {
		opts = append(opts, 0) // end of option list
	}
	hl := 20 + len(opts)
	b := make([]byte, hl+len(s.Payload))
	binary.BigEndian.PutUint16(b[0:], s.SrcPort)
	binary.BigEndian.PutUint16(b[2:], s.DstPort)
	binary.BigEndian.PutUint32(b[4:], s.Seq)
	binary.BigEndian.PutUint32(b[8:], s.Ack)
	b[12] = byte(hl/4) << 4
	b[13] = s.Flags
	w := s.Window
	if w == 0 {
		w = 65535
	}
	binary.BigEndian.PutUint16(b[14:], w)
	binary.BigEndian.PutUint16(b[18:], s.Urgent)
	copy(b[20:], opts)
	copy(b[hl:], s.Payload)
	sum := Checksum(pseudoHeader(src, dst, ProtoTCP, len(b)), b)
	if s.BadChecksum {
		sum++
		if sum == 0 {
			sum = 1
		}
	}
	binary.BigEndian.PutUint16(b[16:], sum)
	return b
}

func pseudoHeader(src, dst netip.Addr, proto uint8, n int) []byte {
	if src.Is4() {
		p := make([]byte, 12)
		s4, d4 := src.As4(), dst.As4()
		copy(p[0:], s4[:])
		copy(p[4:], d4[:])
		p[9] = proto
		binary.BigEndian.PutUint16(p[10:], uint16(n))
		return p
	}
	p := make([]byte, 40)
	s16, d16 := src.As16(), dst.As16()
	copy(p[0:], s16[:])
	copy(p[16:], d16[:])
	binary.BigEndian.PutUint32(p[32:], uint32(n))
	p[39] = proto
	return p
}

// Checksum is the Internet checksum (RFC 1071) over the concatenation of
// parts; an odd-length part is padded only at the very end.
func Checksum(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	var sum uint32
	for i := 0; i+1 < len(all); i += 2 {
		sum += uint32(all[i])<<8 | uint32(all[i+1])
	}
	if len(all)%2 == 1 {
		sum += uint32(all[len(all)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// IPv4 is one IPv4 header's variable fields.
type IPv4 struct {
	Src, Dst netip.Addr
	Proto    uint8
	ID       uint16
	FragOff  int  // fragment offset in bytes (a multiple of 8)
	More     bool // more fragments follow
}

// Marshal returns the IPv4 packet carrying payload, header checksum set.
func (h IPv4) Marshal(payload []byte) []byte {
	b := make([]byte, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], h.ID)
	fo := uint16(h.FragOff / 8)
	if h.More {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:], fo)
	b[8] = 64
	b[9] = h.Proto
	s4, d4 := h.Src.As4(), h.Dst.As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	binary.BigEndian.PutUint16(b[10:], Checksum(b[:20]))
	copy(b[20:], payload)
	return b
}

// Fragments4 splits an IPv4 payload (the transport header and data) into
// fragments whose data parts have the given sizes (multiples of 8 except
// the last); the rest goes into a last fragment.
func Fragments4(h IPv4, payload []byte, sizes ...int) [][]byte {
	var out [][]byte
	off := 0
	for _, n := range sizes {
		if off+n >= len(payload) {
			break
		}
		f := h
		f.FragOff, f.More = off, true
		out = append(out, f.Marshal(payload[off:off+n]))
		off += n
	}
	f := h
	f.FragOff, f.More = off, false
	return append(out, f.Marshal(payload[off:]))
}

// ExtHeader is an IPv6 extension header: its protocol number and the bytes
// after its first two (next header and length), so that 2+len(Body) is a
// multiple of 8.
type ExtHeader struct {
	Proto uint8
	Body  []byte
}

// DestOpts returns a destination-options header of size bytes (a multiple
// of 8, at least 8) that a Linux receiver accepts: PadN where it fits in
// the 7 bytes Linux allows, otherwise skippable experimental options
// (type 0x1e, RFC 4727) with a PadN tail.
func DestOpts(size int) ExtHeader {
	body := make([]byte, 0, size-2)
	rest := size - 2
	for rest > 7 {
		n := min(rest, 36)
		if rest-n > 0 && rest-n < 2 {
			n-- // leave room for a PadN
		}
		body = append(body, 0x1e, byte(n-2))
		body = append(body, make([]byte, n-2)...)
		rest -= n
	}
	switch {
	case rest == 1:
		body = append(body, 0) // Pad1
	case rest >= 2:
		body = append(body, 1, byte(rest-2))
		body = append(body, make([]byte, rest-2)...)
	}
	return ExtHeader{Proto: ProtoDst, Body: body}
}

// IPv6 is one IPv6 header's variable fields.
type IPv6 struct {
	Src, Dst netip.Addr
	Proto    uint8 // the upper-layer protocol after Ext
	Ext      []ExtHeader
}

// Marshal returns the IPv6 packet with its extension headers and payload.
func (h IPv6) Marshal(payload []byte) []byte {
	var ext []byte
	for i, e := range h.Ext {
		next := h.Proto
		if i+1 < len(h.Ext) {
			next = h.Ext[i+1].Proto
		}
		n := 2 + len(e.Body)
		ext = append(ext, next, byte(n/8-1))
		ext = append(ext, e.Body...)
	}
	b := make([]byte, 40+len(ext)+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(ext)+len(payload)))
	b[6] = h.Proto
	if len(h.Ext) > 0 {
		b[6] = h.Ext[0].Proto
	}
	b[7] = 64
	s16, d16 := h.Src.As16(), h.Dst.As16()
	copy(b[8:], s16[:])
	copy(b[24:], d16[:])
	copy(b[40:], ext)
	copy(b[40+len(ext):], payload)
	return b
}

// VLAN is one 802.1Q/802.1ad tag: its TPID and the tag control
// information (priority << 13 | VID).
type VLAN struct {
	TPID uint16
	TCI  uint16
}

// Ethernet returns a frame from src to dst carrying payload of etherType
// behind the given tags (outermost first).
func Ethernet(dst, src net.HardwareAddr, tags []VLAN, etherType uint16, payload []byte) []byte {
	b := make([]byte, 0, 14+4*len(tags)+len(payload))
	b = append(b, dst...)
	b = append(b, src...)
	for _, t := range tags {
		b = binary.BigEndian.AppendUint16(b, t.TPID)
		b = binary.BigEndian.AppendUint16(b, t.TCI)
	}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

// MSSOption is the TCP maximum-segment-size option.
func MSSOption(mss uint16) []byte {
	return []byte{2, 4, byte(mss >> 8), byte(mss)}
}

// Parsed is what ParseFrame reads from a received Ethernet frame.
type Parsed struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Payload          []byte
}

// ParseFrame reads an untagged Ethernet frame carrying IPv4 or IPv6 (no
// extension headers) and TCP; ok is false for anything else.
func ParseFrame(f []byte) (p Parsed, ok bool) {
	if len(f) < 14 {
		return p, false
	}
	et := binary.BigEndian.Uint16(f[12:])
	ipb := f[14:]
	var tcp []byte
	switch et {
	case EtherIPv4:
		if len(ipb) < 20 || ipb[9] != ProtoTCP {
			return p, false
		}
		ihl := int(ipb[0]&0xf) * 4
		tot := int(binary.BigEndian.Uint16(ipb[2:]))
		if tot > len(ipb) || ihl < 20 || tot < ihl {
			return p, false
		}
		p.Src = netip.AddrFrom4([4]byte(ipb[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(ipb[16:20]))
		tcp = ipb[ihl:tot]
	case EtherIPv6:
		if len(ipb) < 40 || ipb[6] != ProtoTCP {
			return p, false
		}
		pl := int(binary.BigEndian.Uint16(ipb[4:]))
		if 40+pl > len(ipb) {
			return p, false
		}
		p.Src = netip.AddrFrom16([16]byte(ipb[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(ipb[24:40]))
		tcp = ipb[40 : 40+pl]
	default:
		return p, false
	}
	if len(tcp) < 20 {
		return p, false
	}
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return p, false
	}
	p.SrcPort = binary.BigEndian.Uint16(tcp[0:])
	p.DstPort = binary.BigEndian.Uint16(tcp[2:])
	p.Seq = binary.BigEndian.Uint32(tcp[4:])
	p.Ack = binary.BigEndian.Uint32(tcp[8:])
	p.Flags = tcp[13]
	p.Payload = tcp[doff:]
	return p, true
}
