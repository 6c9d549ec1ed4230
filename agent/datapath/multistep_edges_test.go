package datapath

import (
	"testing"

	"github.com/cilium/ebpf"
)

// TestOverlapIntoMultiByteStep: a segment that repeats bytes the server
// acknowledged and carries new ones is parsed from its first new byte, also
// where a multi-byte step (the version word, a path run, a header-name
// skip, a value's CRLF) would start in the repeated bytes; its repeated
// bytes, even altered, change nothing. The parser state afterwards is the
// state of the stream sent byte by byte, and a denied request after it is
// reset.
func TestOverlapIntoMultiByteStep(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		first       string // sent, then acknowledged
		again, next string // the overlapping segment: again (repeated bytes) + next
		want        outcome
	}{
		{"version word over the overlap", "GET /api/v1/items HTTP/1.", "HTTP/1.", "1\r\n\r\n", passed},
		{"version word from the spaces before it", "GET /api/v1/items ", "items ", "HTTP/1.1\r\n\r\n", passed},
		{"altered repeated version", "GET /api/v1/items HTTP/1.", "HTTP/9.", "1\r\n\r\n", passed},
		{"repeated bytes spell another version", "GET /api/v1/items HTTP/1.1", "HTTP/1.0\r\n", "\r\n", passed},
		{"path run over the overlap", "GET /api/v1/ad", "v1/ad", "min HTTP/1.1\r\n\r\n", reset},
		{"path run: repeated bytes altered", "GET /api/v1/ad", "v1/it", "min HTTP/1.1\r\n\r\n", reset},
		{"path run: allowed path", "GET /api/v1/ad", "v1/ad", "minx HTTP/1.1\r\n\r\n", passed},
		{"name skip over the overlap", msLine + "X-" + a(10), a(12), a(10) + ": v\r\n\r\n", passed},
		{"name skip: repeated bytes spell Content-Length", msPost + "Content-Lengthy", "Content-Lengthy", ": 30\r\n\r\n" + msSmuggled, reset},
		{"value CRLF over the overlap", msLine + "X: a\r", "X: a\r", "\n\r\n", passed},
		{"value CRLF: repeated CR altered", msLine + "X: a\r", "X: aa", "\n\r\n", passed},
		{"value CRLF: bare CR then more", msLine + "X: a\r", "X: a\r", "\r\n\r\n", reset},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref := bytewise(t, d, web4, orders4, c.first+c.next)
			f := newFlow(t, d.Ingress(), web4, orders4)
			defer d.dropFlow(f)
			if o := f.send(c.first); o != passed {
				t.Fatalf("first segment: %v", o)
			}
			f.serverACK(f.seq)
			o, _ := f.sendAt(f.seq-uint32(len(c.again)), c.again+c.next)
			if o != c.want {
				t.Fatalf("overlapping segment: %v, want %v", o, c.want)
			}
			if (ref.seg >= 0) != (o != passed) {
				t.Fatalf("overlapping segment %v; byte by byte: segment %d %v", o, ref.seg, ref.out)
			}
			if got := d.flowParserState(t, f); got != ref.state {
				t.Fatalf("flow %s; byte by byte %s", got, ref.state)
			}
			if o != passed {
				return
			}
			f.seq += uint32(len(c.next))
			if o := f.send(adminReq); o != reset {
				t.Fatalf("denied request after the overlap: %v", o)
			}
		})
	}
}

// TestPaddingIsNotParsed: bytes after the IP packet's end in a frame (an
// Ethernet trailer) are not the client's: no multi-byte step reads them,
// even where they would complete the version word, a CRLF or a path run.
func TestPaddingIsNotParsed(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name            string
		data, pad, next string
	}{
		{"CR, LF in the trailer", "GET /api/v1/items HTTP/1.1\r", "\n", "\nX: a\r\n\r\n"},
		{"version word in the trailer", "GET /api/v1/items ", "HTTP/1.1\r\n\r\n", "HTTP/1.1\r\n\r\n"},
		{"version's CRLF in the trailer", "GET /api/v1/items HTTP/1.1", "\r\n", "\r\n\r\n"},
		{"end of a denied path in the trailer", "GET /api/v1/adm", "in HTTP/1.1\r\n\r\n", "inx HTTP/1.1\r\n\r\n"},
		{"value's CRLF in the trailer", msLine + "X: a", "\r\n", "\r\nY: b\r\n\r\n"},
		{"rest of a header name in the trailer", msLine + "X-" + a(4), a(12) + ":", "b: v\r\n\r\n"},
		{"Content-Length's end in the trailer", msPost + "Content-Lengt", "h: 30\r\n\r\n", "hy: 30\r\n\r\n" + msSmuggled},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref := bytewise(t, d, web4, orders4, c.data+c.next)
			f := newFlow(t, d.Ingress(), web4, orders4)
			defer d.dropFlow(f)
			in := segment{src: f.src, dst: f.dst, seq: f.seq, ack: f.ack, flags: tcpACK | tcpPSH, payload: []byte(c.data)}.bytes()
			in = append(in, c.pad...)
			out := make([]byte, len(in)+256)
			ret, err := f.prog.Run(&ebpf.RunOptions{Data: in, DataOut: out})
			if err != nil {
				t.Fatal(err)
			}
			if ret != 0 || string(out[:len(in)]) != string(in) {
				t.Fatalf("padded segment: returned %d, changed %v", ret, string(out[:len(in)]) != string(in))
			}
			f.seq += uint32(len(c.data))
			o := f.send(c.next)
			want := passed
			if ref.seg >= 0 {
				want = ref.out
			}
			if o != want {
				t.Fatalf("next segment: %v, want %v (byte by byte)", o, want)
			}
			if got := d.flowParserState(t, f); got != ref.state {
				t.Fatalf("flow %s; byte by byte %s", got, ref.state)
			}
		})
	}
}
