package evasion

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

// The RFC 1071 example most references use: an IPv4 header whose
// checksum is 0xb861.
func TestChecksumKnownHeader(t *testing.T) {
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := Checksum(h); got != 0xb861 {
		t.Fatalf("checksum = %#04x, want 0xb861", got)
	}
	// Split anywhere, even at an odd offset, the sum is the same.
	if got := Checksum(h[:3], h[3:11], h[11:]); got != 0xb861 {
		t.Fatalf("split checksum = %#04x, want 0xb861", got)
	}
}

// A segment's checksum verifies (sums to zero with the pseudo header) for
// IPv4 and IPv6, odd payloads included; BadChecksum breaks exactly that.
func TestSegmentChecksum(t *testing.T) {
	for _, pair := range [][2]string{{"10.86.0.21", "10.86.0.10"}, {"fd86::21", "fd86::10"}} {
		src, dst := netip.MustParseAddr(pair[0]), netip.MustParseAddr(pair[1])
		for _, payload := range []string{"", "GET / HTTP/1.1\r\n\r\n", "odd"} {
			s := Segment{SrcPort: 4242, DstPort: 8080, Seq: 1, Ack: 2, Flags: ACK | PSH,
				Options: MSSOption(1400), Payload: []byte(payload)}
			b := s.Marshal(src, dst)
			if got := Checksum(pseudoHeader(src, dst, ProtoTCP, len(b)), b); got != 0 {
				t.Errorf("%s %q: checksum does not verify (%#04x)", pair[0], payload, got)
			}
			if b[12]>>4 != 6 {
				t.Errorf("data offset = %d words, want 6 (MSS option)", b[12]>>4)
			}
			s.BadChecksum = true
			if got := Checksum(pseudoHeader(src, dst, ProtoTCP, len(b)), s.Marshal(src, dst)); got == 0 {
				t.Errorf("%s %q: BadChecksum verifies", pair[0], payload)
			}
		}
	}
}

// IPv4 fragments carry the right offsets and flags, valid header
// checksums, and their data parts concatenate to the original payload.
func TestFragments4(t *testing.T) {
	h := IPv4{Src: netip.MustParseAddr("10.86.0.21"), Dst: netip.MustParseAddr("10.86.0.10"), Proto: ProtoTCP, ID: 7}
	payload := bytes.Repeat([]byte("0123456789"), 10)
	frags := Fragments4(h, payload, 8, 24)
	if len(frags) != 3 {
		t.Fatalf("%d fragments, want 3", len(frags))
	}
	var joined []byte
	wantOff := []int{0, 8, 32}
	for i, f := range frags {
		if Checksum(f[:20]) != 0 {
			t.Errorf("fragment %d: header checksum does not verify", i)
		}
		fo := binary.BigEndian.Uint16(f[6:])
		if int(fo&0x1fff)*8 != wantOff[i] || (fo&0x2000 != 0) != (i < 2) {
			t.Errorf("fragment %d: frag_off %#04x, want offset %d more=%v", i, fo, wantOff[i], i < 2)
		}
		if int(binary.BigEndian.Uint16(f[2:])) != len(f) {
			t.Errorf("fragment %d: total length wrong", i)
		}
		joined = append(joined, f[20:]...)
	}
	if !bytes.Equal(joined, payload) {
		t.Fatal("fragments do not reassemble to the payload")
	}
}

// Destination-options headers have the requested size and only options a
// Linux receiver accepts: PadN runs of at most 7 bytes, at most 8
// non-padding options, each a type whose top bits say "skip".
func TestDestOpts(t *testing.T) {
	for _, size := range []int{8, 16, 48, 256, 264} {
		e := DestOpts(size)
		if 2+len(e.Body) != size {
			t.Fatalf("size %d: header is %d bytes", size, 2+len(e.Body))
		}
		pad, opts := 0, 0
		for i := 0; i < len(e.Body); {
			switch typ := e.Body[i]; typ {
			case 0:
				pad++
				i++
				continue
			case 1:
				pad += int(e.Body[i+1]) + 2
			default:
				if typ>>6 != 0 {
					t.Fatalf("size %d: option type %#x is not skippable", size, typ)
				}
				opts++
				pad = 0
			}
			if pad > 7 {
				t.Fatalf("size %d: padding run of %d bytes", size, pad)
			}
			i += int(e.Body[i+1]) + 2
			if i > len(e.Body) {
				t.Fatalf("size %d: option overruns the header", size)
			}
		}
		if opts > 8 {
			t.Fatalf("size %d: %d non-padding options, Linux accepts 8", size, opts)
		}
	}
	p := IPv6{Src: netip.MustParseAddr("fd86::21"), Dst: netip.MustParseAddr("fd86::10"), Proto: ProtoTCP,
		Ext: []ExtHeader{DestOpts(8), DestOpts(256)}}.Marshal([]byte("tcp"))
	if p[6] != ProtoDst || p[40] != ProtoDst || p[41] != 0 || p[48] != ProtoTCP || p[49] != 31 {
		t.Fatalf("extension header chain wrong: next=%d, [%d %d], [%d %d]", p[6], p[40], p[41], p[48], p[49])
	}
	if int(binary.BigEndian.Uint16(p[4:])) != 8+256+3 {
		t.Fatal("payload length does not count the extension headers")
	}
}

// A frame built with VLAN tags carries them outermost first, and an
// untagged frame parses back to the segment that was built.
func TestEthernetRoundTrip(t *testing.T) {
	dst, src := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	tagged := Ethernet(dst, src, []VLAN{{Ether8021A, 0}, {Ether8021Q, 3 << 13}}, EtherIPv4, []byte{0x45})
	want := []byte{0x88, 0xa8, 0, 0, 0x81, 0x00, 0x60, 0, 0x08, 0x00, 0x45}
	if !bytes.Equal(tagged[12:], want) {
		t.Fatalf("tagged frame % x, want % x", tagged[12:], want)
	}
	for _, pair := range [][2]string{{"10.86.0.21", "10.86.0.10"}, {"fd86::21", "fd86::10"}} {
		s, d := netip.MustParseAddr(pair[0]), netip.MustParseAddr(pair[1])
		seg := Segment{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: SYN | ACK, Payload: []byte("hi")}
		var pkt []byte
		et := uint16(EtherIPv4)
		if s.Is4() {
			pkt = IPv4{Src: s, Dst: d, Proto: ProtoTCP}.Marshal(seg.Marshal(s, d))
		} else {
			pkt = IPv6{Src: s, Dst: d, Proto: ProtoTCP}.Marshal(seg.Marshal(s, d))
			et = EtherIPv6
		}
		p, ok := ParseFrame(Ethernet(dst, src, nil, et, pkt))
		if !ok || p.Src != s || p.Dst != d || p.SrcPort != 1 || p.DstPort != 2 || p.Seq != 3 || p.Ack != 4 ||
			p.Flags != SYN|ACK || string(p.Payload) != "hi" {
			t.Fatalf("%s: parsed %+v ok=%v", pair[0], p, ok)
		}
	}
}
