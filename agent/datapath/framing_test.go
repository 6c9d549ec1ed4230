package datapath

import (
	"strings"
	"testing"

	"github.com/axon-dev/axon/bpf"
)

// framingCase is a request stream that the parser must pass (bad == "") or
// refuse with reason at the first byte of bad: ok + bad is what the client
// sends.
type framingCase struct {
	name    string
	ok, bad string
	reason  string // counted when refused
}

const (
	postHead = "POST /api/v1/orders HTTP/1.1\r\nHost: o\r\n"
	chunkHdr = postHead + "Transfer-Encoding: chunked\r\n\r\n"
)

// framingCases are the HTTP framing differentials of issue 9 (classes 10, 11
// and 16) and the Upgrade header: bytes that some server reads as another
// line, another header section or another body than the parser would.
var framingCases = []framingCase{
	// Class 10: a CR not followed by LF.
	{"CRLF header lines pass", okReq, "", ""},
	{"bare LF header lines pass (documented)", "GET /api/v1/items HTTP/1.1\nHost: o\nX: a\n\n", "", ""},
	{"bare CR inside a header value", "GET /api/v1/items HTTP/1.1\r\nX: a\r", "b\r\n\r\n", "malformed_request"},
	{"bare CR ends a header value: the rest would be another request", "GET /api/v1/items HTTP/1.1\r\nHost: o\r\nX: a\r", "\r\nGET /api/v1/admin HTTP/1.1\r\n\r\n", "malformed_request"},
	{"bare CR before a Content-Length value", postHead + "Content-Length:\r", " 24\r\n\r\nGET /api/v1/admin HTTP/1.1\r\n\r\n", "malformed_request"},
	{"bare CR after a Content-Length value", postHead + "Content-Length: 5\r", " \r\n\r\nhello", "malformed_request"},
	{"bare CR in a header name", "GET /api/v1/items HTTP/1.1\r\nX\r", ": a\r\n\r\n", "malformed_request"},
	{"bare CR in the request target", "GET /api/v1/items", "\r HTTP/1.1\r\n\r\n", "malformed_request"},
	{"bare CR after the version", "GET /api/v1/items HTTP/1.1\r", "X\n\r\n", "malformed_request"},
	{"bare CR as a leading empty line", "\r", "GET /api/v1/items HTTP/1.1\r\n\r\n", "malformed_request"},
	{"NUL in a header value", "GET /api/v1/items HTTP/1.1\r\nX: a", "\x00b\r\n\r\n", "malformed_request"},
	{"DEL in a header value", "GET /api/v1/items HTTP/1.1\r\nX: a", "\x7f\r\n\r\n", "malformed_request"},
	{"HTAB and obs-text in a header value pass", "GET /api/v1/items HTTP/1.1\r\nX: a\tb\xe9\r\n\r\n", "", ""},
	// Class 11: Transfer-Encoding on HTTP/1.0 (Go ignores it).
	{"HTTP/1.0 with Transfer-Encoding: chunked", "POST /api/v1/orders HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r", "\n1a\r\nGET /api/v1/admin HTTP/1.1\r\n\r\n0\r\n\r\n", "malformed_request"},
	{"HTTP/1.0 with Content-Length passes", "POST /api/v1/orders HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", "", ""},
	{"Transfer-Encoding with Content-Length", postHead + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r", "\n0\r\n\r\n", "malformed_request"},
	// Class 16: Transfer-Encoding values and chunk framing.
	{"chunked passes", chunkHdr + "5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n" + okReq, "", ""},
	{"Chunked is case-insensitive", postHead + "Transfer-Encoding:  CHUNKED \r\n\r\n0\r\n\r\n", "", ""},
	{"gzip, chunked passes", postHead + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "", ""},
	{"chun ked", postHead + "Transfer-Encoding: chun ", "ked\r\n\r\n0\r\n\r\n", "malformed_request"},
	{"chun CR ked", postHead + "Transfer-Encoding: chun\r", "ked\r\n\r\n0\r\n\r\n", "malformed_request"},
	{"chunked not the final coding", postHead + "Transfer-Encoding: chunked", ", gzip\r\n\r\n", "malformed_request"},
	{"chunked then another Transfer-Encoding line", postHead + "Transfer-Encoding: chunked\r\nTransfer-Encoding", ": gzip\r\n\r\n", "malformed_request"},
	{"chunked with a parameter", postHead + "Transfer-Encoding: chunked", ";q=1\r\n\r\n", "malformed_request"},
	{"empty Transfer-Encoding element", postHead + "Transfer-Encoding: ", ",chunked\r\n\r\n", "malformed_request"},
	{"empty Transfer-Encoding", postHead + "Transfer-Encoding: \r", "\n\r\n", "malformed_request"},
	{"xchunked", postHead + "Transfer-Encoding: xchunked\r\n\r", "\n0\r\n\r\n", "malformed_request"},
	{"quoted chunked", postHead + "Transfer-Encoding: ", "\"chunked\"\r\n\r\n", "malformed_request"},
	{"bare LF ends a chunk-size line", chunkHdr + "5", "\nhello\r\n0\r\n\r\n", "malformed_request"},
	{"bare LF ends a chunk extension", chunkHdr + "5;a=b", "\nhello\r\n0\r\n\r\n", "malformed_request"},
	{"bare CR in a chunk-size line", chunkHdr + "5\r", "0\r\nhello\r\n0\r\n\r\n", "malformed_request"},
	{"bare CR in a chunk extension", chunkHdr + "5;a\r", "b\r\nhello\r\n0\r\n\r\n", "malformed_request"},
	{"garbage after chunk-size whitespace", chunkHdr + "5 ", "x\r\nhello\r\n0\r\n\r\n", "malformed_request"},
	{"chunk-size whitespace passes", chunkHdr + "5 \r\nhello\r\n0\t;e\r\n\r\n", "", ""},
	{"bare LF after chunk data", chunkHdr + "5\r\nhello", "\n0\r\n\r\n", "malformed_request"},
	{"bare LF ends a trailer line", chunkHdr + "0\r\nX: y", "\n\r\n", "malformed_request"},
	{"bare LF ends the trailers", chunkHdr + "0\r\n", "\n", "malformed_request"},
	{"obs-fold in the trailers", chunkHdr + "0\r\nX: y\r\n", " z\r\n\r\n", "malformed_request"},
	// Upgrade: websocket passes (and is flagged for the lead's stream
	// logic); anything else on a policed endpoint is refused.
	{"Upgrade: websocket passes", "GET /api/v1/items HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade:  WebSocket \r\n\r\n", "", ""},
	{"Upgrade: h2c", "GET /api/v1/items HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r", "\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n", "upgrade_refused"},
	{"Upgrade: websocket, h2c", "GET /api/v1/items HTTP/1.1\r\nupgrade: websocket, h2c\r", "\n\r\n", "upgrade_refused"},
	{"Upgrade: websocketx", "GET /api/v1/items HTTP/1.1\r\nUpgrade: websocketx\r", "\n\r\n", "upgrade_refused"},
	{"Upgrade: web socket", "GET /api/v1/items HTTP/1.1\r\nUpgrade: web socket\r", "\n\r\n", "upgrade_refused"},
	{"empty Upgrade", "GET /api/v1/items HTTP/1.1\r\nUpgrade:\r", "\n\r\n", "upgrade_refused"},
	{"two Upgrade headers", "GET /api/v1/items HTTP/1.1\r\nUpgrade: websocket\r\nUpgrade: websocket\r", "\n\r\n", "upgrade_refused"},
	{"Upgrade-Insecure-Requests is another header", "GET /api/v1/items HTTP/1.1\r\nUpgrade-Insecure-Requests: 1\r\n\r\n", "", ""},
	// HTTP/2 prior knowledge: decided at its target (this policy denies PRI);
	// where allowed, its version is not HTTP/1.x (TestEvasions).
	{"HTTP/2 preface", "PRI *", " HTTP/2.0\r\n\r\nSM\r\n\r\n", ""},
}

// TestFraming sends every framing case whole and split in two at every byte,
// and checks that the refusing segment is the one holding the first byte
// the parser can refuse, and that its reason is counted.
func TestFraming(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range framingCases {
		t.Run(c.name, func(t *testing.T) {
			data := c.ok + c.bad
			before, err := d.Counters()
			if err != nil {
				t.Fatal(err)
			}
			f := newFlow(t, d.Ingress(), web4, orders4)
			want := passed
			if c.bad != "" {
				want = reset
			}
			if got, out := f.sendAt(f.seq, data); got != want {
				t.Fatalf("whole: %v, want %v", got, want)
			} else if got == reset {
				checkServerRST(t, f, out)
			}
			after, err := d.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if c.reason != "" && after.Reasons[c.reason] != before.Reasons[c.reason]+1 {
				t.Errorf("reason %s: %d -> %d, want +1", c.reason, before.Reasons[c.reason], after.Reasons[c.reason])
			}
			for k := 1; k < len(data); k++ {
				f := newFlow(t, d.Ingress(), web4, orders4)
				w1, w2 := passed, want
				if c.bad != "" && len(c.ok) < k {
					w1 = reset
				}
				if got := f.send(data[:k]); got != w1 {
					t.Fatalf("split at %d: first segment %q: %v, want %v", k, data[:k], got, w1)
				}
				if w1 == reset {
					continue
				}
				if got := f.send(data[k:]); got != w2 {
					t.Fatalf("split at %d: second segment %q: %v, want %v", k, data[k:], got, w2)
				}
			}
		})
	}
}

// TestWebSocketFlag: a request with "Upgrade: websocket" leaves
// AX_RF_WEBSOCKET in the flow's flags when its header section ends (the
// stream logic in axon_tc.c consumes it); one without does not.
func TestWebSocketFlag(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	const rfWebSocket = 0x10 // AX_RF_WEBSOCKET
	for _, c := range []struct {
		req  string
		want bool
	}{
		{"GET /api/v1/items HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n", true},
		{"GET /api/v1/items HTTP/1.1\r\nConnection: Upgrade\r\nupgrade: WEBSOCKET\r\n\r\n", true},
		{okReq, false},
	} {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if got := f.send(c.req); got != passed {
			t.Fatalf("%q: %v", c.req, got)
		}
		if got := d.flowFlags(t, f)&rfWebSocket != 0; got != c.want {
			t.Errorf("%q: websocket flag %v, want %v", c.req, got, c.want)
		}
	}
}

func flowKey(f *flow) bpf.AxonAxFlowKey {
	return bpf.AxonAxFlowKey{
		Saddr: f.src.Addr().As16(), Daddr: f.dst.Addr().As16(),
		Sport: f.src.Port(), Dport: f.dst.Port(),
	}
}

// flowEntry reads a test flow's entry in the flow table.
func (d *Datapath) flowEntry(t testing.TB, f *flow) bpf.AxonAxFlow {
	t.Helper()
	var v bpf.AxonAxFlow
	if err := d.objs.Flows.Lookup(flowKey(f), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// editFlow rewrites a test flow's entry in the flow table with edit
// applied, as if the programs had set those fields.
func (d *Datapath) editFlow(t testing.TB, f *flow, edit func(*bpf.AxonAxFlow)) {
	t.Helper()
	v := d.flowEntry(t, f)
	edit(&v)
	if err := d.objs.Flows.Put(flowKey(f), &v); err != nil {
		t.Fatal(err)
	}
}

// flowFlags reads the request flags of a test flow from the flow table.
func (d *Datapath) flowFlags(t testing.TB, f *flow) uint8 {
	t.Helper()
	return d.flowEntry(t, f).Flags
}

// forgetFlow removes a test flow from the flow table.
func (d *Datapath) forgetFlow(t testing.TB, f *flow) {
	t.Helper()
	k := flowKey(f)
	if err := d.objs.Flows.Delete(&k); err != nil {
		t.Fatal(err)
	}
}

// TestHeaderValueSkip: the parser skips header values eight bytes at a
// time; a control byte (or a CR not followed by LF) at any offset of a long
// value, in a word or in the byte-wise tail, before or after a skip step's
// end, is refused as at offset 0, and every other byte passes.
func TestHeaderValueSkip(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	const head = "GET /api/v1/items HTTP/1.1\r\nHost: o\r\nCookie: "
	bad := []string{"\x00", "\x01", "\x1f", "\x7f", "\rb", "\x0b"}
	good := []string{" ", "~", "\x80", "\xff", "\t", "\"", "%"}
	var offsets []int
	for off := 0; off < 170; off += 1 + off/40 {
		// -short (the kernel matrix under emulation): the first words,
		// the end of one skip step (8 words and 8 bytes) and a far one.
		if !testing.Short() || off < 20 || (off >= 62 && off <= 82) || off > 160 {
			offsets = append(offsets, off)
		}
	}
	for _, off := range offsets {
		pad := strings.Repeat("a", off)
		for _, b := range bad {
			f := newFlow(t, d.Ingress(), web4, orders4)
			if got, _ := f.sendAt(f.seq, head+pad+b+strings.Repeat("z", 40)+"\r\n\r\n"); got != reset {
				t.Errorf("%q after %d value bytes: %v, want reset", b, off, got)
			}
		}
		for _, g := range good {
			f := newFlow(t, d.Ingress(), web4, orders4)
			if got, _ := f.sendAt(f.seq, head+pad+g+strings.Repeat("z", 40)+"\r\n\r\n"); got != passed {
				t.Errorf("%q after %d value bytes: %v, want passed", g, off, got)
			}
		}
	}
}
