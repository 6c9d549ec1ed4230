package datapath

import (
	"strconv"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// The parser's multi-byte steps (issue 15): a run of plain path bytes (up to
// 16), the rest of a header name no needed header can have (up to 16
// tchars), "HTTP/1.x" and the CRLF after it, the CRLF after a header value.
// Each must do what its bytes do one at a time, wherever the segments end.

const (
	msLine = "GET /api/v1/items HTTP/1.1\r\n"
	msPost = "POST /api/v1/orders HTTP/1.1\r\n"
	// msSmuggled is a request the fixture denies, sent as a body.
	// A body holding a denied request line after its first line (a body
	// that begins with one is refused: TestBodyThatBeginsARequest).
	msSmuggled = "x\nGET /api/v1/admin HTTP/1.1\r\n" // 30 bytes
)

func a(n int) string { return strings.Repeat("a", n) }

// multiStepCases hold the requests of issue 15's fast paths: the client sends
// ok + bad, and the program passes it all (bad == "") or refuses the
// segment holding bad's first byte, counting reason (policy denies: "").
var multiStepCases = []framingCase{
	// Runs of plain path bytes: ending at 16 bytes, one short, one over.
	{"path run of 15 then SP", "GET /api/v1/" + a(15) + " HTTP/1.1\r\n\r\n", "", ""},
	{"path run of 16 then SP", "GET /api/v1/" + a(16) + " HTTP/1.1\r\n\r\n", "", ""},
	{"path run of 17 then SP", "GET /api/v1/" + a(17) + " HTTP/1.1\r\n\r\n", "", ""},
	{"path runs of 32 and 33", "GET /api/v1/" + a(32) + "/" + a(33) + " HTTP/1.1\r\n\r\n", "", ""},
	{"denied prefix reached through runs", "GET /api/v1/admin", " HTTP/1.1\r\n\r\n", ""},
	{"denied prefix, then a 16-byte run", "GET /api/v1/admin/" + a(16), " HTTP/1.1\r\n\r\n", ""},
	{"a run past the denied segment is another segment", "GET /api/v1/admin" + a(16) + " HTTP/1.1\r\n\r\n", "", ""},
	{"run then HTAB", "GET /api/v1/admin", "\tHTTP/1.1\r\n\r\n", ""},
	{"run then CR", "GET /api/v1/" + a(16), "\r HTTP/1.1\r\n\r\n", "malformed_request"},
	{"run then LF", "GET /api/v1/" + a(16), "\n\r\n", "not_http"},
	// Dot segments and escapes around a 16-byte run.
	{"dot-dot segment after a 15-byte run", "GET /api/v1/" + a(15) + "/../admin", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"dot-dot segment after a 16-byte run", "GET /api/v1/" + a(16) + "/../admin", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"dot segment ends a path after a run", "GET /api/v1/" + a(16) + "/.", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"dot-dot ends a path after a run", "GET /api/v1/" + a(16) + "/..", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"dots inside a segment pass", "GET /api/v1/" + a(15) + "." + a(16) + ".." + a(16) + " HTTP/1.1\r\n\r\n", "", ""},
	{"escaped dots after a run", "GET /api/v1/" + a(16) + "/%2e%2e/admin", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"escaped unreserved byte after a 16-byte run", "GET /api/v1/" + a(16) + "%61", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"escaped slash after a run", "GET /api/v1/" + a(16) + "%2F" + a(16), " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"escaped space between runs passes", "GET /api/v1/" + a(16) + "%20" + a(16) + " HTTP/1.1\r\n\r\n", "", ""},
	{"lower-case escape between runs passes", "GET /api/v1/" + a(16) + "%c3%a9" + a(16) + " HTTP/1.1\r\n\r\n", "", ""},
	{"broken escape after a run", "GET /api/v1/" + a(16) + "%zz" + a(16), " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"open escape at the end of a path", "GET /api/v1/" + a(16) + "%4", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"escape of a run's letter spells the denied path", "GET /api/v1/%61dmin", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"double slash after a run", "GET /api/v1/" + a(16) + "//x", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"backslash after a run", "GET /api/v1/" + a(16) + "\\admin", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"semicolon after a run", "GET /api/v1/" + a(16) + ";x", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"NUL after a run", "GET /api/v1/" + a(16) + "\x00", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"obs-text after a run", "GET /api/v1/" + a(16) + "\x80" + a(16), " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"DEL after a run", "GET /api/v1/" + a(16) + "\x7f", " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"fragment after a run", "GET /api/v1/" + a(16) + "#" + a(16), " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"query after a run is not path", "GET /api/v1/" + a(16) + "?" + a(16) + "/../admin HTTP/1.1\r\n\r\n", "", ""},
	{"asterisk then plain bytes", "GET *" + a(17), " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"relative target of plain bytes", "GET " + a(17), " HTTP/1.1\r\n\r\n", "non_canonical_path"},
	{"absolute form, then runs", "GET http://" + a(16) + "/api/v1/" + a(16) + " HTTP/1.1\r\n\r\n", "", ""},
	{"absolute form of the denied path", "GET http://orders/api/v1/admin", " HTTP/1.1\r\n\r\n", ""},
	// Header names past the needed ones: 15, 16, 17 and 32 tchars, then ':',
	// a CTL, a space, obs-text.
	{"15-tchar name", msLine + "X" + a(14) + ": v\r\n\r\n", "", ""},
	{"16-tchar name", msLine + "X" + a(15) + ": v\r\n\r\n", "", ""},
	{"17-tchar name", msLine + "X" + a(16) + ": v\r\n\r\n", "", ""},
	{"32-tchar name", msLine + "X" + a(31) + ": v\r\n\r\n", "", ""},
	{"every tchar in a name", msLine + "X!#$%&'*+-.^_`|~09azAZ" + ": v\r\n\r\n", "", ""},
	{"17-tchar name then NUL", msLine + "X" + a(16), "\x00: v\r\n\r\n", "malformed_request"},
	{"16-tchar name then DEL", msLine + "X" + a(15), "\x7f: v\r\n\r\n", "malformed_request"},
	{"16-tchar name then HTAB", msLine + "X" + a(15), "\t: v\r\n\r\n", "malformed_request"},
	{"16-tchar name then SP", msLine + "X" + a(15), " : v\r\n\r\n", "malformed_request"},
	{"16-tchar name then obs-text", msLine + "X" + a(15), "\xe9: v\r\n\r\n", "malformed_request"},
	{"16-tchar name then CRLF", msLine + "X" + a(15) + "\r", "\n\r\n", "malformed_request"},
	{"16-tchar name then a bare CR", msLine + "X" + a(15) + "\r", "a: v\r\n\r\n", "malformed_request"},
	{"16-tchar name then a request line", msLine + "X" + a(15), "\nGET /api/v1/admin HTTP/1.1\r\n\r\n", "malformed_request"},
	{"32-tchar name then LF", msLine + "X" + a(31), "\n\r\n", "malformed_request"},
	{"name with a quote", msLine + "X" + a(15), "\": v\r\n\r\n", "malformed_request"},
	// Names that share a prefix with the needed ones: a Content-Length the
	// parser misses would hide a request from it (the smuggled request must
	// be refused); one it takes that a server does not would hide the body.
	{"Content-Length hides its body", msPost + "Host: o\r\nContent-Length: 30\r\n\r\n" + msSmuggled + msLine + "\r\n", "", ""},
	{"content-length in lower case", msPost + "content-length: 30\r\n\r\n" + msSmuggled, "", ""},
	{"Content-Lengthy is another header", msPost + "Content-Lengthy: 30\r\n\r\nGET /api/v1/admin", " HTTP/1.1\r\n\r\n", ""},
	{"Content-Lengt is another header", msPost + "Content-Lengt: 30\r\n\r\nGET /api/v1/admin", " HTTP/1.1\r\n\r\n", ""},
	{"Content-Length and 16 tchars", msPost + "Content-Length" + a(16) + ": 30\r\n\r\nGET /api/v1/admin", " HTTP/1.1\r\n\r\n", ""},
	{"Content-Length and 18 tchars", msPost + "Content-Length-Content-Length: 30\r\n\r\nGET /api/v1/admin", " HTTP/1.1\r\n\r\n", ""},
	{"Content-Type then Content-Length", msPost + "Content-Type: x\r\nContent-Length: 30\r\n\r\n" + msSmuggled, "", ""},
	{"Content-Length after a 32-tchar name", msPost + "X" + a(31) + ": v\r\nContent-Length: 30\r\n\r\n" + msSmuggled, "", ""},
	{"Content-Length after a value ending in CR LF at 72 bytes", msPost + "X: " + a(69) + "\r\nContent-Length: 30\r\n\r\n" + msSmuggled, "", ""},
	{"Content-Length with a NUL in its name", msPost + "Content-Len", "\x00gth: 30\r\n\r\n" + msSmuggled, "malformed_request"},
	{"Transfer-Encoding hides its chunks", msPost + "X-A: b\r\nTransfer-Encoding: chunked\r\n\r\n1e\r\n" + msSmuggled + "\r\n0\r\n\r\n", "", ""},
	{"Transfer-Encodin is another header", msPost + "Transfer-Encodin: chunked\r\n\r\n1e", "\r\nGET /api/v1/admin HTTP/1.1\r\n\r\n\r\n0\r\n\r\n", "malformed_request"},
	{"Transfer-Encodingg is another header", msPost + "Transfer-Encodingg: chunked\r\n\r\n1e", "\r\nGET /api/v1/admin HTTP/1.1\r\n\r\n\r\n0\r\n\r\n", "malformed_request"},
	{"Transfer-Encoding then 16 tchars", msPost + "Transfer-Encoding" + a(16) + ": chunked\r\n\r\n1e", "\r\nGET /api/v1/admin HTTP/1.1\r\n\r\n\r\n0\r\n\r\n", "malformed_request"},
	{"Transfer-Encoding: gzip after a long name", msPost + "X" + a(31) + ": v\r\nTransfer-Encoding: gzip\r\n\r", "\n", "malformed_request"},
	{"Upgrade: h2c after a long name", msLine + "X" + a(16) + ": v\r\nUpgrade: h2c\r", "\n\r\n", "upgrade_refused"},
	{"Upgrad and Upgrades are other headers", msLine + "Upgrad: h2c\r\nUpgrades: h2c\r\nUpgrade" + a(16) + ": h2c\r\n\r\n", "", ""},
	{"Hostname and Host" + a(16), msLine + "Host: o\r\nHostname: o\r\nHost" + a(16) + ": o\r\n\r\n", "", ""},
	// The CRLF after a header value.
	{"CR CR LF after a value", msLine + "X: a\r", "\r\n\r\n", "malformed_request"},
	{"CR NUL after a value", msLine + "X: a\r", "\x00\n\r\n", "malformed_request"},
	{"empty values", msLine + "X:\r\nY: \r\nZ:\n\r\n", "", ""},
	{"obs-fold with SP", msLine + "X: a\r\n", " b\r\n\r\n", "malformed_request"},
	{"obs-fold with HTAB", msLine + "X: a\r\n", "\tb\r\n\r\n", "malformed_request"},
	{"a request line after a value's CRLF is a bad header", msLine + "X: a\r\nGET", " /api/v1/admin HTTP/1.1\r\n\r\n", "malformed_request"},
	{"NUL after a value's CRLF", msLine + "X: a\r\n", "\x00\r\n\r\n", "malformed_request"},
	{"values of 63 to 74 bytes", msLine + "A: " + a(63) + "\r\nB: " + a(64) + "\r\nC: " + a(71) + "\r\nD: " + a(72) + "\r\nE: " + a(73) + "\r\nF: " + a(74) + "\r\n\r\n", "", ""},
	{"CR LF right after a 72-byte skip, then a bare CR", msLine + "X: " + a(72) + "\r\nY: a\r", "b\r\n\r\n", "malformed_request"},
	{"keep-alive after values", msLine + "X: a\r\n\r\n" + msLine + "Y: b\r\n\r\nGET /api/v1/admin", " HTTP/1.1\r\n\r\n", ""},
	// The version as one word, and the CRLF after it.
	{"HTTP/1.0", "GET /api/v1/items HTTP/1.0\r\n\r\n", "", ""},
	{"HTTP/1.1 after spaces and tabs", "GET /api/v1/items \t HTTP/1.1\r\n\r\n", "", ""},
	{"HTTP/1.1 with a bare LF", "GET /api/v1/items HTTP/1.1\nX: a\n\n", "", ""},
	{"HTTP/1.2", "GET /api/v1/items HTTP/1.", "2\r\n\r\n", "not_http"},
	{"HTTP/1.1x", "GET /api/v1/items HTTP/1.1", "x\r\n\r\n", "not_http"},
	{"HTTP/1.10", "GET /api/v1/items HTTP/1.1", "0\r\n\r\n", "not_http"},
	{"HTTP/1.1 SP", "GET /api/v1/items HTTP/1.1", " \r\n\r\n", "not_http"},
	{"HTTP/1.1 CR CR", "GET /api/v1/items HTTP/1.1\r", "\r\n\r\n", "malformed_request"},
	{"HTTP/1.1 CR then a header", "GET /api/v1/items HTTP/1.1\r", "X: a\r\n\r\n", "malformed_request"},
	{"http/1.1 in lower case", "GET /api/v1/items ", "http/1.1\r\n\r\n", "not_http"},
	{"HTTP/1.1 then obs-fold", "GET /api/v1/items HTTP/1.1\r\n", " X: a\r\n\r\n", "malformed_request"},
	{"HTTP/1.1 then NUL", "GET /api/v1/items HTTP/1.1\r\n", "\x00\r\n\r\n", "malformed_request"},
	{"HTTP/1.0 with chunked", "POST /api/v1/orders HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r", "\n1e\r\n" + msSmuggled + "\r\n0\r\n\r\n", "malformed_request"},
	{"HTTP/1.0 after tabs with chunked", "POST /api/v1/orders\t\tHTTP/1.0\r\nX" + a(16) + ": v\r\nTransfer-Encoding: chunked\r\n\r", "\n0\r\n\r\n", "malformed_request"},
	{"HTTP/1.1 on a denied line", "GET /api/v1/admin", " HTTP/1.1\r\n\r\n", ""},
	{"HTTP/1.1HTTP/1.1", "GET /api/v1/items HTTP/1.1", "HTTP/1.1\r\n\r\n", "not_http"},
	{"pipelined: versions, names and runs", msLine + "X" + a(20) + ": " + a(80) + "\r\n\r\n" + "GET /api/v1/" + a(40) + " HTTP/1.0\r\n\r\nGET /api/v1/admin", " HTTP/1.1\r\n\r\n", ""},
}

// TestMultiByteSteps sends every case one byte per segment (the parser's
// byte-at-a-time definition), whole, split in two at every offset and in
// three around every offset, and checks that the first refused byte is the
// first byte of bad, with its reason counted, and that every segmentation
// refuses the segment holding that byte, counts the same and leaves the
// flow's parser in the same state.
func TestMultiByteSteps(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range multiStepCases {
		t.Run(c.name, func(t *testing.T) {
			checkSegmentations(t, d, c)
		})
	}
}

// checkSegmentations checks one case (see TestMultiByteSteps).
func checkSegmentations(t *testing.T, d *Datapath, c framingCase) {
	t.Helper()
	data := c.ok + c.bad
	ref := bytewise(t, d, web4, orders4, data)
	switch {
	case c.bad == "" && ref.seg >= 0:
		t.Fatalf("byte by byte: byte %d (%q) %v, want every byte passed", ref.lo, data[ref.lo], ref.out)
	case c.bad != "" && (ref.seg < 0 || ref.lo != len(c.ok) || ref.out != reset):
		t.Fatalf("byte by byte: first refused byte %d (%v, seg %d), want byte %d (%q) reset", ref.lo, ref.out, ref.seg, len(c.ok), c.bad[0])
	case c.reason != "" && ref.counts["reason "+c.reason] != 1:
		t.Fatalf("byte by byte: counted %v, want %s", ref.counts, c.reason)
	}
	// Whole and in two: every counter; in three: those ref moved and the
	// parse reasons.
	only := []counterKey(nil)
	check := func(cuts ...int) {
		t.Helper()
		if diff := sameAsBytewise(ref, sendCuts(t, d, web4, orders4, data, cuts, only)); diff != "" {
			t.Fatalf("cut at %v: %s", cuts, diff)
		}
	}
	check()
	for k := 1; k < len(data); k++ {
		// -short (the kernel matrix under emulation, where this test
		// took a quarter of the datapath suite's time at every fifth
		// offset): every 13th offset, and every one in the 17 bytes
		// before bad.
		if !testing.Short() || k%13 == 0 || (k >= len(c.ok)-17 && k <= len(c.ok)) {
			check(k)
		}
	}
	if testing.Short() {
		return
	}
	only = keysOf(ref.counts)
	// Three segments: the middle one as long as a word, a run, or a byte
	// either side of them.
	for k := 1; k < len(data); k++ {
		for _, n := range []int{1, 2, 7, 8, 9, 10, 15, 16, 17} {
			if k+n < len(data) {
				check(k, k+n)
			}
		}
	}
}

// TestPathRunAtLengthLimit: a path of runs of plain bytes that reaches the
// path length limit inside a run is malformed one byte past the limit, as
// byte by byte, whatever the segments.
func TestPathRunAtLengthLimit(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	lens := []int{table.MaxPath - 1, table.MaxPath, table.MaxPath + 1, table.MaxPath + 15, table.MaxPath + 16, table.MaxPath + 17}
	if testing.Short() {
		// The kernel matrix under emulation: at, one past, and a run
		// past the limit.
		lens = []int{table.MaxPath, table.MaxPath + 1, table.MaxPath + 16}
	}
	for _, n := range lens {
		target := "/api/v1/" + a(n-len("/api/v1/"))
		c := framingCase{name: "path of " + strconv.Itoa(n) + " bytes", ok: "GET " + target + " HTTP/1.1\r\n\r\n"}
		if n > table.MaxPath {
			c = framingCase{name: c.name, ok: "GET " + target, bad: " HTTP/1.1\r\n\r\n", reason: "malformed_request"}
		}
		t.Run(c.name, func(t *testing.T) {
			data := c.ok + c.bad
			ref := bytewise(t, d, web4, orders4, data)
			if c.bad == "" && ref.seg >= 0 || c.bad != "" && (ref.lo != len(c.ok) || ref.out != reset || ref.counts["reason "+c.reason] != 1) {
				t.Fatalf("byte by byte: seg %d byte %d %v %v", ref.seg, ref.lo, ref.out, ref.counts)
			}
			// Segments of at most diffMSS bytes (test runs take at most a
			// page), and one more cut around the limit, at every offset
			// from 40 bytes before it to 40 after.
			if diff := sameAsBytewise(ref, sendCuts(t, d, web4, orders4, data, mssCuts(len(data), -1), nil)); diff != "" {
				t.Fatalf("segments of %d bytes: %s", diffMSS, diff)
			}
			for k := len("GET ") + table.MaxPath - 40; k < len(data) && k < len("GET ")+table.MaxPath+40; k++ {
				cuts := mssCuts(len(data), k)
				if diff := sameAsBytewise(ref, sendCuts(t, d, web4, orders4, data, cuts, nil)); diff != "" {
					t.Fatalf("cut at %v: %s", cuts, diff)
				}
			}
		})
	}
}

// mssCuts cuts n bytes every diffMSS bytes, and at extra (if inside).
func mssCuts(n, extra int) []int {
	var cuts []int
	for k := diffMSS; k < n; k += diffMSS {
		if extra > k-diffMSS && extra < k {
			cuts = append(cuts, extra)
		}
		cuts = append(cuts, k)
	}
	if last := (n - 1) / diffMSS * diffMSS; extra > last && extra < n {
		cuts = append(cuts, extra)
	}
	return cuts
}
