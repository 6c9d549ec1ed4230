package evasion

import (
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
	"golang.org/x/sys/unix"
)

// Class 35 (red team rt41): classes 28 and 29 ended by the client's FIN
// instead of an empty line.
//
// The fixes of classes 28 and 29 act where the held header section ends in
// the datapath's parse: a data segment of a request decided while nothing
// was enforced is refused (no_flow, ax_stream_claimed), and a request whose
// header section ends in a later segment than its decision is decided again
// at its empty line (AX_RD_LATER, ax_hdr_step). Python's http.server ends a
// header section at the end of the stream too (http.client._read_headers
// stops at b"", as at b"\r\n"), and then runs the request. A FIN inside a
// header section passed (the check was for request lines only): a bare FIN
// (ax_fin_at) and a FIN behind header bytes (ax_parse_payload) ended the
// held section without a decision again, and Python ran the request. Go
// and nginx answer 400 to a header section cut by the end of the stream.
// Now a FIN inside a header section is refused like one inside a request
// line (ax_head_open, bpf/axon_tc.c).
//
// Controls: the same bytes sent from inside the server's pod (loopback,
// not through the pod's veth, so not policed) run on Python: the log check
// sees a request that a FIN ends.

// newTopo41 is the topology of red team rt41 (10.41/16, fd41::/16).
func newTopo41(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.41", "fd41", n)
}

// holdRequestFin is holdRequest with a second step that sends rest (may be
// empty) and then the FIN (CloseWrite), and reads what comes back. The
// connection is made from host from (tp.cli: through the datapath; tp.srv:
// the server pod's own loopback, not policed).
func holdRequestFin(t *testing.T, tp *topo, from *netns.Host, s server, start string) func(rest string) (string, error) {
	t.Helper()
	tc := openHeld(t, tp, from, s, start)
	return func(rest string) (string, error) {
		corked := strings.HasPrefix(rest, "CORK:")
		rest = strings.TrimPrefix(rest, "CORK:")
		if corked {
			// The rest and the FIN in one segment: TCP_CORK holds the
			// data until shutdown attaches the FIN to it.
			raw, err := tc.SyscallConn()
			must(t, err)
			must(t, raw.Control(func(fd uintptr) {
				must(t, unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, 1))
			}))
		}
		if rest != "" {
			if _, err := tc.Write([]byte(rest)); err != nil {
				return "", err
			}
			if !corked {
				time.Sleep(30 * time.Millisecond)
			}
		}
		if err := tc.CloseWrite(); err != nil {
			return "", err
		}
		return readAll(tc, 700*time.Millisecond)
	}
}

// TestRedteamAuditHeldEndedByFin: class 28 ended by a bare FIN. During
// Audit "GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\n" (audit_deny,
// passes); after the switch to Enforce, the client's FIN alone. An allowed
// request held the same way is refused too (a FIN inside a header
// section). Control: the denied bytes, held and ended by FIN from inside
// the pod, run on Python.
func TestRedteamAuditHeldEndedByFin(t *testing.T) {
	t.Parallel()
	tp := newTopo41(t, 1)
	tp.policy("Audit", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	toks := map[string]string{}
	conns := map[string]func(string) (string, error){}
	for _, s := range srvs {
		for _, p := range []string{"admin", "ok", "local"} {
			tok := token("fin" + p)
			toks[s.Name()+p] = tok
			path, from := "/api/admin/"+tok, tp.cli
			switch p {
			case "ok":
				path = "/api/v1/" + tok
			case "local":
				from = tp.srv
			}
			conns[s.Name()+p] = holdRequestFin(t, tp, from, s, "GET "+path+" HTTP/1.1\r\nHost: srv\r\n")
		}
	}
	time.Sleep(100 * time.Millisecond)
	tp.policy("Enforce", "")
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		resp, err := conns[s.Name()+"local"]("")
		t.Logf("%s: control (denied path, from the pod itself, held, FIN): %s", s.Name(), firstLine(resp, err))
		if s.Name() == "python" {
			expectArrived(t, s, toks[s.Name()+"local"], "control: a request from inside the pod whose header section a FIN ends")
		}
		resp, err = conns[s.Name()+"ok"]("")
		tok := toks[s.Name()+"ok"]
		expectNeverRun(t, s, tok, "an allowed request whose header section a FIN ends ("+firstLine(resp, err)+")")
		resp, err = conns[s.Name()+"admin"]("")
		tok = toks[s.Name()+"admin"]
		expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" sent during Audit, its header section ended by a bare FIN after the switch to Enforce ("+firstLine(resp, err)+")")
	})
}

// TestRedteamPolicyChangeHeldEndedByFin: class 29 ended by the FIN.
// "GET /api/v1/held/<tok> HTTP/1.1\r\nHost: srv\r\n" while only the base
// rules are in force (allowed); once "Deny prefix /api/v1/held" is applied,
// the client sends a bare FIN ("bare"), or one more header line and then
// the FIN ("line"), or that line with the FIN in one segment ("corked",
// TCP_CORK: ax_parse_payload takes the FIN after parsing the line).
// Control: the same bytes from inside the pod run on Python.
func TestRedteamPolicyChangeHeldEndedByFin(t *testing.T) {
	t.Parallel()
	tp := newTopo41(t, 2)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	type held struct {
		tok  string
		send func(string) (string, error)
	}
	conns := map[string]held{}
	variants := map[string]string{"bare": "", "line": "X-More: 1\r\n", "corked": "CORK:X-More: 1\r\n"}
	for _, s := range srvs {
		for v := range variants {
			for _, from := range []*netns.Host{tp.cli, tp.srv} {
				tok := token(from.Name + v)
				conns[s.Name()+from.Name+v] = held{tok, holdRequestFin(t, tp, from, s, "GET /api/v1/held/"+tok+" HTTP/1.1\r\nHost: srv\r\n")}
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	tp.policy("Enforce", denyHeld)
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		expectHeldPathReset(t, tp, s)
		for v, rest := range variants {
			c := conns[s.Name()+tp.srv.Name+v]
			resp, err := c.send(rest)
			t.Logf("%s %s: control (from inside the pod, held, FIN): %s", s.Name(), v, firstLine(resp, err))
			if s.Name() == "python" {
				expectArrived(t, s, c.tok, "control ("+v+"): a held request from inside the pod, ended by FIN")
			}
			h := conns[s.Name()+tp.cli.Name+v]
			resp, err = h.send(rest)
			expectNeverRun(t, s, h.tok, "GET /api/v1/held/"+h.tok+" whose line was allowed before the Deny, its header section ended by FIN after it ("+v+"; "+firstLine(resp, err)+")")
		}
	})
}
