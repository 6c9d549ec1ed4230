package evasion

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Red-team findings against the TCP normalizer (docs/security.md). Each
// TestRedteam* test fails while the bypass it describes exists. Topologies
// live on 10.90.<n>.0/24 and fd90:<n>::/64.

// newRedTopo is newTopo on the red team's address range.
func newRedTopo(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.90", "fd90", n)
}

// synFor sends a SYN with sequence number isn on f's 4-tuple and waits for
// the server's SYN-ACK acknowledging it; it returns the server's sequence
// number. f's own ISN is left alone.
func synFor(f *Flow, isn uint32, timeout time.Duration) (uint32, error) {
	return synForOpts(f, isn, MSSOption(1400), timeout)
}

// synForOpts is synFor with the SYN's TCP options.
func synForOpts(f *Flow, isn uint32, opts []byte, timeout time.Duration) (uint32, error) {
	if err := f.Send(Segment{Seq: isn, Flags: SYN, Options: opts}); err != nil {
		return 0, err
	}
	deadline := time.After(timeout)
	for {
		select {
		case p := <-f.in:
			if p.Src != f.Remote.Addr() || p.SrcPort != f.Remote.Port() {
				continue
			}
			if p.Flags&(SYN|ACK) == SYN|ACK && p.Ack == isn+1 {
				return p.Seq, nil
			}
		case <-deadline:
			return 0, fmt.Errorf("no SYN-ACK for ISN %d from %s within %v", isn, f.Remote, timeout)
		}
	}
}

// adopt makes f the connection whose handshake used our ISN isn and the
// server's srvISN, so that Data and Response work on it.
func (f *Flow) adopt(isn, srvISN uint32) {
	f.ISN, f.Next, f.SrvISN = isn, isn+1, srvISN
	f.mu.Lock()
	f.srvNext = srvISN + 1
	f.mu.Unlock()
}

// tcpExt reads one TcpExt counter of the server's namespace.
func (tp *topo) tcpExt(name string) int {
	tp.t.Helper()
	lines := strings.Split(tp.run(tp.srv, "cat", "/proc/net/netstat"), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "TcpExt:") || !strings.HasPrefix(lines[i+1], "TcpExt:") {
			continue
		}
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := range names {
			if names[j] == name && j < len(vals) {
				v, _ := strconv.Atoi(vals[j])
				return v
			}
		}
	}
	tp.t.Fatalf("no TcpExt counter %s", name)
	return 0
}

// fillSynQueue fills the SYN queue of the server's listener on port with
// half-open connections from spoofed (the flooder address, answered at
// the client's MAC, whose kernel drops the SYN-ACKs), until the server
// starts answering SYNs with SYN cookies: what Linux does under a SYN
// flood (tcp_syncookies=1, the default). It sends only as many SYNs as the
// listener's backlog needs (Python's http.server: 5; nginx: 511; Go:
// net.core.somaxconn, 4096).
func (tp *topo) fillSynQueue(t *testing.T, port int, maxSYNs int) {
	t.Helper()
	if tp.link == nil {
		tp.rawFlow(port, false) // opens the link
	}
	src := tp.atk4.Next() // .22: no kernel owns it either
	tp.run(tp.srv, "ip", "neigh", "replace", src.String(), "lladdr", tp.link.MAC.String(), "dev", "eth0", "nud", "permanent")
	before := tp.tcpExt("SyncookiesSent")
	dst := tp.srv.Addr
	sent := 0
	check := 8 // look at the counter after 8, 16, 32, ... SYNs, then every 512
	for sent < maxSYNs {
		sport := uint16(1024 + sent + port%7*8000)
		seg := Segment{SrcPort: sport, DstPort: uint16(port), Seq: uint32(sent) * 7919, Flags: SYN, Options: MSSOption(1400)}
		pkt := IPv4{Src: src, Dst: dst, Proto: ProtoTCP, ID: uint16(sent)}.Marshal(seg.Marshal(src, dst))
		must(t, tp.link.Send(Ethernet(tp.srvMAC, tp.link.MAC, nil, EtherIPv4, pkt)))
		sent++
		if sent%100 == 0 {
			time.Sleep(3 * time.Millisecond) // let the softirqs drain the backlog
		}
		if sent == check || sent >= maxSYNs {
			time.Sleep(20 * time.Millisecond)
			if tp.tcpExt("SyncookiesSent") > before {
				t.Logf("port %d: the server answers with SYN cookies after %d spoofed SYNs", port, sent)
				return
			}
			if check < 512 {
				check *= 2
			} else {
				check += 512
			}
		}
	}
	t.Fatalf("port %d: no SYN cookies after %d SYNs", port, sent)
}

// errNoCookie: the listener answered with a regular SYN-ACK.
var errNoCookie = errors.New("no SYN cookie")

// TestRedteamSynCookieSecondSYN: the flow's start comes from the last
// SYN-ACK the server sent for the 4-tuple, but under a SYN flood the
// server answers SYNs with SYN cookies and keeps no state: every cookie it
// handed out stays valid (for about two minutes), whatever SYN-ACK came
// after it.
//
// Bytes on the wire, all from the attacker's 4-tuple to a policed port:
//
//  1. Spoofed SYNs from another address fill the listener's SYN queue
//     (about 8 for Python's http.server, 512 for nginx, 4100 for Go):
//     the server now answers with SYN cookies.
//  2. SYN seq=A. The server answers SYN-ACK seq=C1 ack=A+1: the flow
//     starts at A+1.
//  3. SYN seq=B=A-k. The server answers SYN-ACK seq=C2 ack=B+1: a SYN-ACK
//     with another ISN replaces the flow, which now starts at B+1.
//  4. ACK seq=B+1 with k bytes "GET /api/v1/pad-... HTTP/1.1\r\nX-Pad: "
//     and a bad TCP checksum. The datapath parses them (an allowed
//     request line, then a header value under way) and passes them; the
//     server's stack drops the segment. (Any silent discard does: a bad
//     checksum is the simplest.)
//  5. ACK seq=A+1 ack=C1+1 carrying "GET /api/admin/<tok> HTTP/1.1\r\nHost:
//     srv\r\n\r\n". For the datapath these are new bytes at its next
//     sequence number: the rest of the X-Pad header value, a Host header
//     and the end of the allowed request's headers. For the server's
//     stack they complete the handshake of SYN A (cookie C1 is valid) and
//     are the first bytes of the connection: it serves GET /api/admin.
//
// Rule 3 never fires: no byte position is sent twice. The fix has to make
// the flow's start unambiguous while the listener may hold several valid
// starts (e.g. refuse to replace a flow by a SYN-ACK with another ack until
// the old one is known dead, or refuse data on a flow that saw two SYN-ACKs
// with different acks).
func TestRedteamSynCookieSecondSYN(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 1)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		attack := func(t *testing.T, name string, wantCookies, v6 bool) {
			tok := token(name)
			pad := []byte("GET /api/v1/pad-" + tok + " HTTP/1.1\r\nX-Pad: ")
			denied := request("/api/admin/" + tok)
			f := tp.rawFlow(s.Port(), v6)
			t.Cleanup(f.Abort)
			a := f.ISN
			b := a - uint32(len(pad))
			cookies0 := tp.tcpExt("SyncookiesSent")
			c1, err := synFor(f, a, 3*time.Second)
			must(t, err)
			c2, err := synFor(f, b, 500*time.Millisecond)
			if wantCookies {
				must(t, err)
				if tp.tcpExt("SyncookiesSent")-cookies0 < 2 {
					t.Fatal(errNoCookie)
				}
			} else if err == nil {
				t.Fatalf("without a flood the server answered the second SYN with a SYN-ACK (seq %d)", c2)
			}
			// The padding at B+1 (the server drops it: bad checksum).
			must(t, f.Send(Segment{Seq: b + 1, Ack: c2 + 1, Flags: ACK | PSH, Payload: pad, BadChecksum: true}))
			time.Sleep(20 * time.Millisecond)
			// The denied request at A+1, completing SYN A's handshake.
			f.adopt(a, c1)
			must(t, f.Data(a+1, denied))
			resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
			expectNever(t, s, tok, "GET /api/admin/"+tok+" sent as the first bytes of SYN A's cookie connection after SYN B moved the flow ("+describe(resp, rst)+")")
		}
		// Control: without cookies the second SYN draws only an ACK, the
		// flow keeps A+1, and the denied request is reset.
		t.Run("no-flood", func(t *testing.T) { attack(t, "nocookie", false, false) })
		t.Run("syn-flood", func(t *testing.T) {
			tp.fillSynQueue(t, s.Port(), 6000)
			attack(t, "cookie2syn", true, false)
			if s.Name() != "nginx" {
				// Go and Python listen on one dual-stack socket: the
				// same full queue, the same bypass over IPv6.
				t.Run("ipv6", func(t *testing.T) { attack(t, "cookie2syn6", true, true) })
			}
		})
	})
}

// waitServerFIN reads f's frames until the server's FIN arrives and
// returns the sequence number of that FIN.
func waitServerFIN(f *Flow, timeout time.Duration) (uint32, error) {
	deadline := time.After(timeout)
	for {
		select {
		case p := <-f.in:
			if p.Src != f.Remote.Addr() || p.SrcPort != f.Remote.Port() {
				continue
			}
			if p.Flags&RST != 0 {
				return 0, errors.New("server reset the connection")
			}
			if p.Flags&FIN != 0 {
				return p.Seq + uint32(len(p.Payload)), nil
			}
		case <-deadline:
			return 0, fmt.Errorf("no FIN from %s within %v", f.Remote, timeout)
		}
	}
}

// TestRedteamSynCookieStaleFlow: a SYN-ACK identical to the flow's (same
// server ISN, same ack) "changes nothing", but under SYN cookies it is
// what the server sends for a NEW connection opened with the same client
// ISN on the same 4-tuple within the same minute: the cookie is a hash of
// the 4-tuple, the client's ISN and the minute. The flow of the old
// connection then serves the new one, and every byte position the old
// connection's server acknowledged passes unparsed ("the server has these
// bytes and discards them"), but the new connection's server has never
// seen them.
//
// Bytes on the wire (the listener answers with SYN cookies, as in
// TestRedteamSynCookieSecondSYN):
//
//  1. SYN seq=A; SYN-ACK seq=C1 ack=A+1 (a cookie). Flow: base A+1.
//  2. ACK seq=A+1 ack=C1+1: an allowed request of L bytes
//     "GET /api/v1/aaaa... HTTP/1.1\r\nHost: srv\r\nConnection: close\r\n\r\n".
//     The server answers, acknowledges A+1+L and sends its FIN (the
//     flow's server-FIN mark is set; the flow stays).
//  3. FIN seq=A+1+L ack=C1+1 (not acknowledging the server's FIN): the
//     server goes to CLOSING and acknowledges A+2+L; the flow is CLOSED at
//     next byte A+2+L, all of it acknowledged.
//  4. RST seq=A+1+L: Linux accepts a RST at rcv_nxt-1 in CLOSE_WAIT,
//     CLOSING and LAST_ACK (tcp_reset_check) and drops the socket; the
//     datapath deletes a flow only for a RST at exactly its next byte
//     (A+2+L), so the flow stays.
//  5. SYN seq=A again: the listener answers SYN-ACK seq=C1 ack=A+1, the
//     same cookie; the datapath keeps the old flow.
//  6. ACK seq=A+1 ack=C1+1 carrying "GET /api/admin/<tok> HTTP/1.1\r\n
//     Host: srv\r\n\r\n" (at most L+1 bytes): every byte is at or below
//     the old acknowledgement, so the datapath passes it without parsing;
//     the server's stack opens the connection from cookie C1 and serves
//     GET /api/admin.
func TestRedteamSynCookieStaleFlow(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 2)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		tp.fillSynQueue(t, s.Port(), 6000)
		// A cookie's minute counter may roll over between the two SYNs:
		// then the second SYN-ACK differs and replaces the flow. Try again.
		for try := range 3 {
			tok := token("stale")
			first := []byte("GET /api/v1/" + strings.Repeat("a", 60) + " HTTP/1.1\r\nHost: srv\r\nConnection: close\r\n\r\n")
			denied := request("/api/admin/" + tok)
			if len(denied) > len(first) {
				t.Fatal("the denied request must fit in the first one's acknowledged bytes")
			}
			f := tp.rawFlow(s.Port(), false)
			a := f.ISN
			c1, err := synFor(f, a, 3*time.Second)
			must(t, err)
			f.adopt(a, c1)
			must(t, f.Data(a+1, first))
			if _, err := waitServerFIN(f, 3*time.Second); err != nil {
				t.Fatalf("first request: %v", err)
			}
			fin := a + 1 + uint32(len(first))
			must(t, f.Send(Segment{Seq: fin, Ack: c1 + 1, Flags: FIN | ACK}))
			time.Sleep(30 * time.Millisecond)
			must(t, f.Send(Segment{Seq: fin, Ack: c1 + 1, Flags: RST | ACK}))
			time.Sleep(30 * time.Millisecond)
			c1again, err := synFor(f, a, 3*time.Second)
			must(t, err)
			if c1again != c1 {
				t.Logf("try %d: the cookie changed (%d, then %d): minute rollover", try, c1, c1again)
				f.Abort()
				continue
			}
			f.adopt(a, c1)
			t.Cleanup(f.Abort)
			must(t, f.Data(a+1, denied))
			resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
			expectNever(t, s, tok, "GET /api/admin/"+tok+" as the first bytes of a new cookie connection that reuses the old connection's acknowledged sequence range ("+describe(resp, rst)+")")
			return
		}
		t.Fatal("the cookie changed on every try")
	})
}

// TestRedteamSplitRequestLineLogged: a denied request is reset at the
// segment that completes its request line; the segments before it pass
// (docs/security.md: "the server holds an incomplete line and then the
// reset"). nginx logs what it holds when the connection is reset: its
// $request variable is rebuilt from the buffer up to the first CR or LF,
// so a client that sends "GET /api/admin/<tok> HTTP/1.1\r" and then
// "\n..." in a second segment (two writes with TCP_NODELAY, no raw socket
// needed) gets `"GET /api/admin/<tok> HTTP/1.1" 400` into nginx's access
// log. The request is never processed (no location runs, no upstream sees
// it), so this is a log-integrity problem, not a policy bypass; Go's
// handler never sees it.
func TestRedteamSplitRequestLineLogged(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 4)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tok := token("split")
		threeSends(t, tp, s, "GET /api/admin/"+tok+" HTTP/1.1\r", "\n", "Host: srv\r\n\r\n", false)
		expectNever(t, s, tok, "GET /api/admin/"+tok+" with its request line split before the LF")
	})
}

// arpResponder answers, from the client pod's interface, every ARP request
// for addr with the interface's own MAC (what any CAP_NET_RAW process on
// the segment can do for an address whose owner is away or slower). It
// stops at cleanup.
func arpResponder(t *testing.T, tp *topo, addr netip.Addr) {
	t.Helper()
	const ethPARP = 0x0806
	var fd, ifindex int
	var mac net.HardwareAddr
	must(t, tp.cli.Do(func() error {
		ifi, err := net.InterfaceByName(tp.cli.Iface)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(ethPARP)))
		if err != nil {
			return err
		}
		ifindex, mac = ifi.Index, ifi.HardwareAddr
		tv := unix.Timeval{Usec: 50_000}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPARP), Ifindex: ifindex})
	}))
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done; unix.Close(fd) })
	want := addr.As4()
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || n < 42 {
				continue
			}
			a := buf[14:42]
			// Ethernet/IPv4 request (op 1) for addr.
			if binary.BigEndian.Uint16(a[6:]) != 1 || [4]byte(a[24:28]) != want {
				continue
			}
			reply := make([]byte, 0, 42)
			reply = append(reply, a[8:14]...) // to the asker's MAC
			reply = append(reply, mac...)
			reply = binary.BigEndian.AppendUint16(reply, ethPARP)
			reply = append(reply, 0, 1, 8, 0, 6, 4, 0, 2)
			reply = append(reply, mac...)
			reply = append(reply, a[24:28]...) // "addr is at mac"
			reply = append(reply, a[8:18]...)  // to the asker
			_ = unix.Sendto(fd, reply, 0, &unix.SockaddrLinklayer{Ifindex: ifindex})
		}
	}()
}

// TestRedteamSpoofedSourceIdentity: a rule's `from:` is decided by the
// packet's source address (docs/semantics.md: a known pod's IP has its
// identity), but the threat model's attacker forges addresses on the L2
// segment. The attacker sends its SYN from the IP of a pod the policy
// trusts (adm-0, app=admin, 10.90.5.30, not on this segment right now),
// answers the server's ARP request for that IP with its own MAC, completes
// the handshake and sends GET /internal/..., which the policy allows only
// from app=admin. The datapath sees identity app=admin and allows it; the
// server serves it. From its own address the same request is denied.
//
// Nothing in Axon binds an identity to the segment's MAC/port (or to the
// pod's veth: on the host side of a pod's veth, the client pod's own
// interface could check that the source address is that pod's).
func TestRedteamSpoofedSourceIdentity(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 5)
	admin := netip.MustParseAddr("10.90.5.30")
	tp.write("cluster.yaml", tp.clusterYAML()+`---
apiVersion: v1
kind: Pod
metadata:
  name: adm-0
  namespace: shop
  labels:
    app: admin
spec:
  containers:
  - name: main
    image: example.invalid/app:1
status:
  phase: Running
  podIP: 10.90.5.30
  podIPs:
  - ip: 10.90.5.30
`)
	tp.policy("Enforce", `  - action: Allow
    from:
    - podSelector:
        matchLabels:
          app: admin
    http:
    - paths:
      - prefix: /internal
`)
	// adm-0 runs on this node: the agent records its veth, and a packet
	// with its address that comes in through another pod's veth is not
	// its. (A pod on another node cannot be checked here: that is the
	// CNI's source-address validation, docs/security.md.)
	tp.net.AddHost("adm", admin.String())
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	arpResponder(t, tp, admin)
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		// From the attacker's own address: denied.
		own := token("own")
		f := tp.connect(t, s.Port(), false, nil)
		must(t, f.Data(f.ISN+1, request("/internal/"+own)))
		resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
		expectNever(t, s, own, "GET /internal/"+own+" from the attacker's own address ("+describe(resp, rst)+")")
		// From the admin pod's address.
		tok := token("spoof")
		g := tp.rawFlow(s.Port(), false)
		g.Local = netip.AddrPortFrom(admin, g.Local.Port())
		if err := g.Handshake(nil, 3*time.Second); err != nil {
			// The SYN sent with adm-0's address was dropped: no connection.
			expectNever(t, s, tok, "a connection from the cli pod with adm-0's source address ("+err.Error()+")")
			return
		}
		t.Cleanup(g.Abort)
		must(t, g.Data(g.ISN+1, request("/internal/"+tok)))
		resp, rst = g.Response("\r\n\r\n", 500*time.Millisecond)
		expectNever(t, s, tok, "GET /internal/"+tok+" from the cli pod, sent with adm-0's source address ("+describe(resp, rst)+")")
	})
}

// waitGeneration waits until the agent has applied policy generation gen.
func waitGeneration(t *testing.T, a *agent, gen int, timeout time.Duration) {
	t.Helper()
	want := fmt.Sprintf("msg=\"policy applied\" generation=%d ", gen)
	deadline := time.Now().Add(timeout)
	for !strings.Contains(a.Logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not apply generation %d within %v", gen, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedteamAuditPassSurvivesEnforce: on an Audit-only endpoint, a
// segment the normalizer would refuse passes and "the flow stops being
// parsed" (state AX_ST_PASS). Nothing resets that state when the endpoint
// becomes enforced: the usual rollout (Audit first, then Enforce) leaves
// every connection the attacker prepared during the Audit phase unpoliced,
// for as long as it keeps it alive (the agent expires idle flows after an
// hour; any data refreshes them).
//
// Bytes on the wire: during Audit, on an established connection, one
// data byte "G" at the next sequence number WITHOUT the ACK flag (the
// server's stack drops it; the datapath counts no_ack_flag and gives up
// parsing the flow). The operator switches the policy to Enforce. On the
// same connection: "GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\n\r\n"
// with ACK: passed unparsed, served. A new connection's identical request
// is reset.
func TestRedteamAuditPassSurvivesEnforce(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 6)
	tp.policy("Audit", "")
	srvs := tp.servers("go", "nginx")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	flows := map[string]*Flow{}
	for _, s := range srvs {
		f := tp.connect(t, s.Port(), false, nil)
		must(t, f.Send(Segment{Seq: f.ISN + 1, Flags: PSH, Payload: []byte("G")}))
		flows[s.Name()] = f
	}
	time.Sleep(50 * time.Millisecond)
	tp.policy("Enforce", "")
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		// Control: a new connection is policed by the enforced policy.
		ctl := token("fresh")
		g := tp.connect(t, s.Port(), false, nil)
		must(t, g.Data(g.ISN+1, request("/api/admin/"+ctl)))
		resp, rst := g.Response("\r\n\r\n", 500*time.Millisecond)
		expectNever(t, s, ctl, "GET /api/admin/"+ctl+" on a connection opened after the switch to Enforce ("+describe(resp, rst)+")")
		tok := token("audit-pass")
		f := flows[s.Name()]
		must(t, f.Data(f.ISN+1, request("/api/admin/"+tok)))
		resp, rst = f.Response("\r\n\r\n", 500*time.Millisecond)
		expectNever(t, s, tok, "GET /api/admin/"+tok+" on a connection given up on during Audit, after the switch to Enforce ("+describe(resp, rst)+")")
	})
}

// TestRedteamUrgentPointerInPureACK: class 1 is closed by refusing data
// segments with the URG flag, but Linux takes the urgent pointer from any
// segment, data or not (tcp_urg -> tcp_check_urg), and remembers a pointer
// to a byte it has not received yet (TCP_URG_NOTYET): when that byte
// arrives, in a segment WITHOUT the URG flag, it is taken out of the
// stream the application reads.
//
// Bytes on the wire, on an established connection at next sequence N:
//
//  1. ACK|URG seq=N, no payload, urgent pointer 11: "the byte at N+10 is
//     urgent" (Linux subtracts one, tcp_stdurg=0). The datapath passes
//     zero-length segments whatever their flags.
//  2. ACK|PSH seq=N "GET /api/adminX", then ACK|PSH seq=N+15
//     "/<tok> HTTP/1.1\r\nHost: srv\r\n\r\n". No URG flag: the datapath
//     parses the path /api/adminX/<tok>, which prefix /api/admin does not
//     match (semantics.md: not /px), and the allow rule for /api does:
//     allowed. The server's stack takes the 'X' (the byte at N+14, which
//     the pointer names) out of the stream; Go and nginx read
//     "GET /api/admin/<tok>". (One segment is enough for Go; nginx stops
//     reading at the urgent mark and needs the next segment's wakeup.)
func TestRedteamUrgentPointerInPureACK(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 8)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		// "pure-ack": a separate zero-length ACK|URG after the handshake;
		// "handshake-ack": the urgent pointer in the handshake's own
		// final ACK (Linux runs tcp_urg on it too).
		for _, where := range []string{"pure-ack", "handshake-ack"} {
			t.Run(where, func(t *testing.T) {
				tok := token("urgptr")
				head := "GET /api/admin"
				req := []byte(head + "X/" + tok + " HTTP/1.1\r\nHost: srv\r\n\r\n")
				urg := Segment{Flags: ACK | URG, Urgent: uint16(len(head) + 1)}
				f := tp.rawFlow(s.Port(), false)
				if where == "pure-ack" {
					must(t, f.Handshake(nil, 3*time.Second))
				} else {
					srvISN, err := synFor(f, f.ISN, 3*time.Second)
					must(t, err)
					f.adopt(f.ISN, srvISN)
				}
				t.Cleanup(f.Abort)
				urg.Seq, urg.Ack = f.ISN+1, f.SrvISN+1
				must(t, f.Send(urg))
				time.Sleep(20 * time.Millisecond)
				// Two segments: a reader stops at the urgent mark (nginx,
				// with edge-triggered epoll, then waits for the next
				// segment).
				n := len(head) + 1
				must(t, f.Data(f.ISN+1, req[:n]))
				time.Sleep(20 * time.Millisecond)
				must(t, f.Data(f.ISN+1+uint32(n), req[n:]))
				resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
				expectNever(t, s, tok, "GET /api/admin/"+tok+" after an urgent pointer in a zero-length "+where+" named the X of /api/adminX ("+describe(resp, rst)+")")
			})
		}
	})
}

// TestRedteamRequestLineEndedByFIN: the datapath decides a request when
// its request line ends (LF). A client that sends a request line with no
// line end at all and then half-closes the connection is never decided:
// the line is incomplete, the FIN passes. Python's http.server reads the
// line with readline(), which returns the unterminated line at end of
// stream, and its header parser takes end of stream as the end of the
// headers: it serves the request. (Go reads the line too but fails on the
// missing header section; nginx logs it as a 400, like
// TestRedteamSplitRequestLineLogged.)
//
// Bytes: "GET /api/admin/<tok> HTTP/1.1" then FIN, from an ordinary socket
// (write, then shutdown(SHUT_WR)).
func TestRedteamRequestLineEndedByFIN(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 9)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tok := token("eof")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(s.Port()))
		must(t, err)
		defer c.Close()
		// Without the version (an HTTP/0.9 line for Python): refused at
		// the FIN. With it, the datapath decides at the space after the
		// target, before the FIN: the connection may be reset already.
		_, err = c.Write([]byte("GET /api/admin/" + tok))
		must(t, err)
		_ = c.(*net.TCPConn).CloseWrite()
		resp, _ := readAll(c, 500*time.Millisecond)
		expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" whose request line ends at the client's FIN ("+firstLine(resp, nil)+")")
		tok2 := token("eofv")
		c2, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(s.Port()))
		must(t, err)
		defer c2.Close()
		_, _ = c2.Write([]byte("GET /api/admin/" + tok2 + " HTTP/1.1"))
		_ = c2.(*net.TCPConn).CloseWrite()
		resp, _ = readAll(c2, 500*time.Millisecond)
		expectNever(t, s, tok2, "GET /api/admin/"+tok2+" HTTP/1.1 ended by the client's FIN ("+firstLine(resp, nil)+")")
	})
}

// TestRedteamChunkedBodyToServerWithoutTE: Python's http.server does not
// implement Transfer-Encoding on requests: a request with
// "Transfer-Encoding: chunked" and no Content-Length has, for it, no body,
// and the chunked body is the next request. The datapath skips chunk data
// by count. A chunk-size line can be a request line for Python (hex size,
// a space, then anything: a chunk extension for the datapath) and the
// chunk data the request after it.
//
// Bytes (one write from an ordinary socket):
//
//	POST /api/v1/p HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n
//	<hex n> /api/v1/x HTTP/1.1\r\n        datapath: chunk of n bytes, extension
//	                                      Python: request "<hex n> /api/v1/x"
//	\r\nGET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\n\r\n   (the n bytes)
//	                                      Python: end of that request's headers,
//	                                      then GET /api/admin/<tok>
//	\r\n0\r\n\r\n
//
// Python answers the hex-named method here because the suite's Python
// server answers every method (a handler that answers only GET and POST
// would send 501 and close the connection first).
func TestRedteamChunkedBodyToServerWithoutTE(t *testing.T) {
	t.Parallel()
	tp := newRedTopo(t, 10)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tok := token("te")
		data := "\r\nGET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\n\r\n"
		req := "POST /api/v1/p HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x /api/v1/x HTTP/1.1\r\n", len(data)) + data + "\r\n0\r\n\r\n"
		resp, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), req, 500*time.Millisecond)
		expectNever(t, s, tok, "GET /api/admin/"+tok+" inside a chunk ("+firstLine(resp, err)+")")
	})
}
