package evasion

import (
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// Red team rt42 (all held but one, TestRedteamFinRefusalResetsServer):
// the end of a client's stream (or of a request) signalled to the server
// other than by an empty line the datapath parsed, against the class-35
// fix (ax_head_open). Each attack holds an allowed request's
// head while a Deny for its path is applied (class 29's timing), then ends
// it some other way; controls send the same bytes from inside the server
// pod (loopback, not policed).

// newTopo42 is the topology of red team rt42 (10.42/16, fd42::/16).
func newTopo42(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.42", "fd42", n)
}

// holdRequestRST is holdRequestFin ending the connection with a RST
// (SO_LINGER 0) after rest, instead of a FIN.
func holdRequestRST(t *testing.T, tp *topo, from *netns.Host, s server, start string) func(rest string) {
	t.Helper()
	c := openHeld(t, tp, from, s, start)
	return func(rest string) {
		if rest != "" {
			_, _ = c.Write([]byte(rest))
			time.Sleep(30 * time.Millisecond)
		}
		_ = c.SetLinger(0)
		_ = c.Close()
	}
}

// TestRedteamHeldEndings: an allowed head held across "Deny prefix
// /api/v1/held", then ended by: a bare FIN after an HTTP/1.0 request line
// with no header ("http10"); after a request line ended by a bare LF
// ("lf"); the CR of the empty line and the FIN in one segment ("cr");
// an obs-fold continuation line and the FIN in one segment ("obsfold");
// a bare FIN after a POST head with Expect: 100-continue ("expect"); the
// empty line plus a short body and the FIN in one segment ("body"); a
// RST after the held head ("rst") or after one more header line
// ("rst-line"). Python is the server that ends a head at the end of the
// stream; Go and nginx are checked as well.
func TestRedteamHeldEndings(t *testing.T) {
	t.Parallel()
	tp := newTopo42(t, 1)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	type variant struct {
		start func(tok string) string
		rest  string
		rst   bool
	}
	get := func(v string) func(string) string {
		return func(tok string) string { return "GET /api/v1/held/" + tok + " " + v }
	}
	variants := map[string]variant{
		"http10":  {get("HTTP/1.0\r\n"), "", false},
		"lf":      {get("HTTP/1.1\n"), "", false},
		"lf-host": {get("HTTP/1.1\nHost: srv\n"), "", false},
		"cr":      {get("HTTP/1.1\r\nHost: srv\r\n"), "CORK:\r", false},
		"obsfold": {get("HTTP/1.1\r\nHost: srv\r\n"), "CORK: x\r\n", false},
		"expect": {func(tok string) string {
			return "POST /api/v1/held/" + tok + " HTTP/1.1\r\nHost: srv\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
		}, "", false},
		"body": {func(tok string) string {
			return "POST /api/v1/held/" + tok + " HTTP/1.1\r\nHost: srv\r\nContent-Length: 40\r\n"
		}, "CORK:\r\nabc", false},
		"rst": {get("HTTP/1.1\r\nHost: srv\r\n"), "", true},
		"pipelined": {func(tok string) string {
			return "GET /api/v1/first HTTP/1.1\r\nHost: srv\r\n\r\nGET /api/v1/held/" + tok + " HTTP/1.1\r\nHost: srv\r\n"
		}, "", false},
		"http10-ka": {get("HTTP/1.0\r\nConnection: keep-alive\r\n"), "CORK:X: y", false},
		"rst-line":  {get("HTTP/1.1\r\nHost: srv\r\n"), "X-More: 1\r\n", true},
	}
	type held struct {
		tok  string
		fin  func(string) (string, error)
		rst  func(string)
		rest string
	}
	conns := map[string]held{}
	for _, s := range srvs {
		for name, v := range variants {
			for _, from := range []*netns.Host{tp.cli, tp.srv} {
				tok := token("rt42" + from.Name + name)
				h := held{tok: tok, rest: v.rest}
				if v.rst {
					h.rst = holdRequestRST(t, tp, from, s, v.start(tok))
				} else {
					h.fin = holdRequestFin(t, tp, from, s, v.start(tok))
				}
				conns[s.Name()+from.Name+name] = h
			}
		}
	}
	time.Sleep(150 * time.Millisecond)
	tp.policy("Enforce", denyHeld)
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		for name := range variants {
			for _, from := range []*netns.Host{tp.srv, tp.cli} {
				h := conns[s.Name()+from.Name+name]
				var out string
				if h.rst != nil {
					h.rst(h.rest)
					out = "rst sent"
				} else {
					resp, err := h.fin(h.rest)
					out = firstLine(resp, err)
				}
				if from == tp.srv {
					time.Sleep(200 * time.Millisecond)
					t.Logf("%s %s: control from the pod: %s; ran: %v", s.Name(), name, out, logged(s, h.tok))
					continue
				}
				expectNeverRun(t, s, h.tok, name+": GET/POST /api/v1/held/"+h.tok+" held across the Deny, then ended ("+out+")")
			}
		}
	})
}

// TestRedteamRawFinCopies: raw segments after an allowed head held
// across the Deny: the head's last byte (acknowledged) sent again with FIN
// (a keepalive-style probe carrying the FIN at the next byte:
// "probe-fin"); five acknowledged bytes sent again with other content and
// the FIN ("differs-fin"); RST|FIN at the next byte ("rst-fin"; the
// datapath forgets the flow); SYN|FIN|ACK at the next byte ("syn-fin"); a
// FIN with a bad checksum first and then a good one ("badfin-fin").
func TestRedteamRawFinCopies(t *testing.T) {
	t.Parallel()
	tp := newTopo42(t, 2)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	tricks := map[string]func(t *testing.T, f *Flow, end uint32){
		"probe-fin": func(t *testing.T, f *Flow, end uint32) {
			must(t, f.Send(Segment{Seq: end - 1, Ack: f.SrvISN + 1, Flags: ACK | FIN, Payload: []byte("\n")}))
		},
		"differs-fin": func(t *testing.T, f *Flow, end uint32) {
			must(t, f.Send(Segment{Seq: end - 5, Ack: f.SrvISN + 1, Flags: ACK | PSH | FIN, Payload: []byte("ZZZ\r\n")}))
		},
		"rst-fin": func(t *testing.T, f *Flow, end uint32) {
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | RST | FIN}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | FIN}))
		},
		"syn-fin": func(t *testing.T, f *Flow, end uint32) {
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | SYN | FIN}))
		},
		"badrst-fin": func(t *testing.T, f *Flow, end uint32) {
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | RST, BadChecksum: true}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | FIN}))
		},
		"badrst-data": func(t *testing.T, f *Flow, end uint32) {
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | RST, BadChecksum: true}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Data(end, []byte("\r\n")))
		},
		"badfin-fin": func(t *testing.T, f *Flow, end uint32) {
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | FIN, BadChecksum: true}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | FIN}))
		},
	}
	type held struct {
		tok string
		f   *Flow
		end uint32
	}
	conns := map[string]held{}
	for _, s := range srvs {
		tp.rawControl(t, s, false)
		for name := range tricks {
			tok := token("raw42" + name)
			f := tp.connect(t, s.Port(), false, nil)
			head := []byte("GET /api/v1/held/" + tok + " HTTP/1.1\r\nHost: srv\r\n")
			must(t, f.Data(f.ISN+1, head))
			conns[s.Name()+name] = held{tok, f, f.ISN + 1 + uint32(len(head))}
		}
	}
	time.Sleep(200 * time.Millisecond)
	tp.policy("Enforce", denyHeld)
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		for name, trick := range tricks {
			h := conns[s.Name()+name]
			trick(t, h.f, h.end)
			resp, rst := h.f.Response("\n", 500*time.Millisecond)
			expectNeverRun(t, s, h.tok, name+": held GET /api/v1/held/"+h.tok+" ("+describe(resp, rst)+")")
		}
	})
}

// TestRedteamFinRefusalResetsServer (red team rt42): a FIN the datapath
// refuses (inside a header section, class 35) must also end the server's
// connection, or the server keeps the partial head (Python has no read
// timeout: a thread per attempt). When the FIN shared a segment with
// data, ax_parse_payload had moved the flow's next byte past that data
// before refusing, so the server's reset carried a sequence number past
// what it held, and Linux ignored it (a challenge ACK). Now the refusal
// comes first. The head held and ended by a header line with the FIN in
// one segment ("corked") or by a bare FIN ("bare"): no connection to the
// server stays established.
func TestRedteamFinRefusalResetsServer(t *testing.T) {
	t.Parallel()
	tp := newTopo42(t, 3)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, rest := range []string{"CORK:X-More: 1\r\n", ""} {
			tok := token("refused")
			fin := holdRequestFin(t, tp, tp.cli, s, "GET /api/v1/"+tok+" HTTP/1.1\r\nHost: srv\r\n")
			time.Sleep(100 * time.Millisecond)
			resp, err := fin(rest)
			filter := "( sport = :" + itoa(s.Port()) + " )"
			var out string
			for i := 0; i < 20; i++ {
				if out = strings.TrimSpace(tp.run(tp.srv, "ss", "-tnH", "state", "established", filter)); out == "" {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if out != "" {
				t.Errorf("%q then FIN (%s): the server's connection stayed established after the refusal:\n%s", rest, firstLine(resp, err), out)
			}
			expectNeverRun(t, s, tok, "an allowed head whose header section a FIN ends")
		}
	})
}
