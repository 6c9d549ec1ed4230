package evasion

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// TestRedteamHeaderLineSplits: header lines a server and the datapath could
// split differently (obs-fold with a space or a tab, a space or tab before
// the colon, NUL, VT and FF in a value, bare LF line ends, a signed
// Content-Length), each in an allowed request whose framing, read one way,
// makes the denied request behind it a body and, read the other way, the
// next request. Sent to Go, nginx and Python, the allowed request but its
// last byte in one write, that byte and the denied request in a second.
// The denied request must never run.
func TestRedteamHeaderLineSplits(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 2)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	const n = "%d" // the denied request's length
	heads := []struct{ name, head string }{
		{"fold-space-te", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nX-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: " + n + "\r\n\r\n"},
		{"fold-space-cl", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nX-A: a\r\n Content-Length: " + n + "\r\n\r\n"},
		{"fold-tab-cl", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nX-A: a\r\n\tContent-Length: " + n + "\r\n\r\n"},
		{"cl-folded-value", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: 0\r\n " + n + "\r\n\r\n"},
		{"space-before-colon", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length : " + n + "\r\n\r\n"},
		{"tab-before-colon", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length\t: " + n + "\r\n\r\n"},
		{"nul-in-value", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nX-A: a\x00Content-Length: 0\r\nContent-Length: " + n + "\r\n\r\n"},
		{"vt-in-value", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nX-A: a\x0bContent-Length: 0\r\nContent-Length: " + n + "\r\n\r\n"},
		{"ff-in-value", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nX-A: a\x0cContent-Length: 0\r\nContent-Length: " + n + "\r\n\r\n"},
		{"nel-in-value", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nX-A: a\x85Content-Length: 0\r\nContent-Length: " + n + "\r\n\r\n"},
		{"bare-lf", "POST /api/v1/%s HTTP/1.1\nHost: srv\nContent-Length: " + n + "\n\n"},
		{"bare-lf-then-crlf", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\nContent-Length: " + n + "\r\n\n"},
		{"lf-cr-lf-end", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: " + n + "\n\r\n"},
		{"plus-cl", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: +" + n + "\r\n\r\n"},
		{"cl-list", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nContent-Length: " + n + ", " + n + "\r\n\r\n"},
		{"te-empty-cl", "POST /api/v1/%s HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding:\r\nContent-Length: " + n + "\r\n\r\n"},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, h := range heads {
			bad := token("splitbad")
			denied := "GET /api/admin/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n"
			for _, body := range []string{denied, "xxxxx" + denied} {
				ok := token("split")
				head := strings.Replace(h.head, "%s", ok, 1)
				head = strings.ReplaceAll(head, n, fmt.Sprint(len(denied)))
				resp, err := exchange2(t, tp, s.Port(), head[:len(head)-1], head[len(head)-1:]+body)
				t.Logf("%s %s body %d: %s", s.Name(), h.name, len(body), firstLine(resp, err))
				expectNeverRun(t, s, bad, h.name+" ("+firstLine(resp, err)+")")
			}
		}
	})
}

// TestRedteamLongHeaderSection: header sections around the datapath's
// per-packet bound (16 x 128 x 32 parser steps, packet offsets below
// 0xfff0), each with a denied request pipelined behind: ~60 KiB of
// headers in one write (one GSO segment on the veth), the same in 1 KiB
// writes, 3-byte header lines (one step per byte) filling one segment,
// and a request line with a 4095-byte and a 4097-byte path. Go only
// (nginx and Python refuse header sections this long themselves). The
// denied request must never run; the allowed ones that fit are served.
func TestRedteamLongHeaderSection(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 3)
	tp.policy("Enforce", "")
	srvs := tp.servers("go")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	s := srvs[0]
	big := func(lines, width int) string {
		var b strings.Builder
		for i := 0; i < lines; i++ {
			fmt.Fprintf(&b, "X-%d: %s\r\n", i, strings.Repeat("v", width))
		}
		return b.String()
	}
	tiny := func(total int) string {
		var b strings.Builder
		for b.Len() < total {
			b.WriteString("a:\n")
		}
		return b.String()
	}
	cases := []struct {
		name    string
		headers string
		chunk   int // write size, 0: one write
	}{
		{"60k-one-write", big(60, 1000), 0},
		{"63k-one-write", big(63, 1000), 0},
		{"66k-one-write", big(66, 1000), 0},
		{"60k-1k-writes", big(60, 1000), 1024},
		{"tiny-lines-40k", tiny(40 << 10), 0},
		{"tiny-lines-64k", tiny(64 << 10), 0},
		{"tiny-lines-70k", tiny(70 << 10), 0},
	}
	for _, c := range cases {
		ok, bad := token("long"), token("longbad")
		req := "GET /api/v1/" + ok + " HTTP/1.1\r\nHost: srv\r\n" + c.headers + "\r\n"
		resp, err := writeThen(t, tp, goPort, req, c.chunk, "GET /api/admin/"+bad+" HTTP/1.1\r\nHost: srv\r\n\r\n")
		t.Logf("%s (%d bytes): %s; allowed request served: %v", c.name, len(req), firstLine(resp, err), logged(s, ok))
		expectNeverRun(t, s, bad, "a denied request behind "+c.name+" ("+firstLine(resp, err)+")")
	}
	for _, n := range []int{4095, 4096, 4097} {
		ok := token("path")
		p := "/api/v1/" + ok + "/" + strings.Repeat("a", n-len("/api/v1/"+ok+"/"))
		bad := token("pathbad")
		resp, err := writeThen(t, tp, goPort, "GET "+p+" HTTP/1.1\r\nHost: srv\r\n\r\n", 0, "GET /api/admin/"+bad+" HTTP/1.1\r\nHost: srv\r\n\r\n")
		t.Logf("path %d: %s; allowed request served: %v", n, firstLine(resp, err), logged(s, ok))
		expectNeverRun(t, s, bad, fmt.Sprintf("a denied request behind a %d-byte path (%s)", n, firstLine(resp, err)))
	}
}

// writeThen sends req from the client pod in writes of chunk bytes (0: one
// write), 2 ms apart, then next 100 ms later, and returns what came back.
func writeThen(t *testing.T, tp *topo, port int, req string, chunk int, next string) (string, error) {
	t.Helper()
	return writeThenTo(t, tp, tp.srvAddr(port), req, chunk, next)
}

// writeThenTo is writeThen to the server address addr (host:port).
func writeThenTo(t *testing.T, tp *topo, addr string, req string, chunk int, next string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tp.cli.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dialing: %v", err)
	}
	defer c.Close()
	if chunk == 0 {
		chunk = len(req)
	}
	for i := 0; i < len(req); i += chunk {
		j := min(i+chunk, len(req))
		if _, err := c.Write([]byte(req[i:j])); err != nil {
			return "", err
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if next != "" {
		if _, err := c.Write([]byte(next)); err != nil {
			return "", err
		}
	}
	return readAll(c, 2*time.Second)
}

// writeInChunks sends req from the client pod in writes of chunk bytes (0:
// one write), 2 ms apart, and returns what came back.
func writeInChunks(t *testing.T, tp *topo, port int, req string, chunk int) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(port))
	if err != nil {
		t.Fatalf("dialing: %v", err)
	}
	defer c.Close()
	if chunk == 0 {
		chunk = len(req)
	}
	for i := 0; i < len(req); i += chunk {
		j := min(i+chunk, len(req))
		if _, err := c.Write([]byte(req[i:j])); err != nil {
			return "", err
		}
		if j < len(req) {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return readAll(c, 2*time.Second)
}

// startGoH2C runs Go net/http on port with HTTP/1 and unencrypted HTTP/2
// (prior knowledge) enabled, logging "METHOD URI PROTO -> PATH".
func startGoH2C(t *testing.T, h *netns.Host, port int) *goServer {
	t.Helper()
	l, err := h.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("listening in %s: %v", h.NS, err)
	}
	s := &goServer{port: port}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.answerUnread),
		Protocols:         p,
		ReadHeaderTimeout: 10 * time.Second,
	}
	serveUntilCleanup(t, srv, l)
	return s
}

// h2Frame is one HTTP/2 frame.
func h2Frame(typ, flags byte, stream uint32, payload []byte) []byte {
	b := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[5:], stream)
	return append(b, payload...)
}

// h2Request is the client preface, an empty SETTINGS frame and a HEADERS
// frame (END_STREAM, END_HEADERS) for GET p on stream 1, HPACK by hand:
// :method GET and :scheme http indexed, :path and :authority literal
// without indexing.
func h2Request(p string) []byte {
	block := []byte{0x82, 0x86, 0x04, byte(len(p))}
	block = append(block, p...)
	block = append(block, 0x01, 3, 's', 'r', 'v')
	out := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	out = append(out, h2Frame(4, 0, 0, nil)...)
	return append(out, h2Frame(1, 0x5, 1, block)...)
}

// TestRedteamH2CPriorKnowledge: a Go server that speaks unencrypted HTTP/2
// (Go 1.24+ http.Protocols) on a policed port. The client sends the HTTP/2
// preface and a HEADERS frame for GET /api/admin/<tok>: in one write, split
// after every byte of "PRI * HTTP/2.0\r\n" (two writes), and under a policy
// that also allows any method on any path, so that "PRI *" is an allowed
// request line and only its version can stop it. Also "Upgrade: h2c" on an
// allowed request. Control: the same frames for /api/v1/<tok> without Axon
// policing reach the handler as HTTP/2.0 (the server really speaks h2c).
func TestRedteamH2CPriorKnowledge(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 4)
	anyMethod := `  - action: Allow
    from:
    - podSelector:
        matchLabels:
          app: cli
    http:
    - paths:
      - prefix: /
`
	tp.policy("Enforce", anyMethod)
	s := startGoH2C(t, tp.srv, goPort)
	// Control before the agent runs: the server speaks HTTP/2.
	ctl := token("h2ctl")
	resp, err := writeInChunks(t, tp, goPort, string(h2Request("/api/v1/"+ctl)), 0)
	expectArrived(t, s, ctl, "an HTTP/2 prior-knowledge request before Axon is attached ("+fmt.Sprintf("%q, %v", firstLine(resp, err), err)+")")
	if l := strings.Join(s.Log(), "\n"); !strings.Contains(l, "HTTP/2.0") {
		t.Fatalf("the control request did not arrive as HTTP/2.0: %s", l)
	}
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	pre := "PRI * HTTP/2.0\r\n"
	for cut := 0; cut < len(pre); cut++ {
		bad := token("h2bad")
		req := string(h2Request("/api/admin/" + bad))
		var got string
		var err error
		if cut == 0 {
			got, err = writeInChunks(t, tp, goPort, req, 0)
		} else {
			got, err = exchange2(t, tp, goPort, req[:cut], req[cut:])
		}
		expectNever(t, s, bad, fmt.Sprintf("HTTP/2 prior knowledge split at %d (%s)", cut, firstLine(got, err)))
	}
	bad := token("h2upg")
	got, err := writeInChunks(t, tp, goPort, "GET /api/v1/"+bad+" HTTP/1.1\r\nHost: srv\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"+string(h2Request("/api/admin/" + bad)[len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):]), 0)
	expectNever(t, s, bad, "Upgrade: h2c ("+firstLine(got, err)+")")
}
