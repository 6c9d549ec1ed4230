package evasion

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// newTopo44 is newTopo on 10.44.<n>.0/24 and fd44:<n>::/64 (red team rt44).
func newTopo44(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.44", "fd44", n)
}

// TestRedteamRT44SocketVouchesForStaleFlow (rt44): 0612290 keeps a restarted
// agent's flow when the server's socket has received (tcpi_bytes_received)
// no more of the client's stream than the flow let through. A byte count
// says nothing of which bytes the server holds, nor of bytes it queues out
// of order. As in rt43, while no agent runs another TC program that passes
// everything sits ahead of Axon's on the server's veth (both directions),
// and is gone before the next agent starts; the next agent finds Axon's
// attachment in place and checks the flows against the sockets.
//
//   - dropped-copy: before the agent is killed, the allowed head (all but
//     the final "\r\n") is sent with a bad TCP checksum: the datapath parses
//     it (next_seq moves by its length), the server drops it. While the
//     program is ahead, the denied head of the same length is sent at the
//     same position: the server takes it. bytes_received equals what the
//     flow let through, so the flow is kept; "\r\n" at the flow's next byte
//     ends the allowed head for the datapath and the denied one for the
//     server.
//   - reconnect: the allowed head is taken and acknowledged normally. While
//     the program is ahead the connection is reset at the server's next byte
//     and opened again on the same 4-tuple with the same ISN, and the new
//     connection's server takes the denied head of the same length. Its
//     socket has the flow's 4-tuple and byte count (the flow's srv_ack even
//     matches); an old byte makes the server ACK (the reply program learns
//     the new server sequence), then "\r\n" ends the denied head.
//   - reconnect-idle: as reconnect, with the flow at a request boundary (a
//     whole allowed request taken); the new connection holds a denied head
//     open inside an X-Pad header of the same length, and the next allowed
//     request, parsed as such, is a header line and the end of that head
//     for the server.
//   - ooo: while the program is ahead, a whole denied request is sent after
//     a hole the length of an allowed request: the server queues it out of
//     order, and bytes_received (in-order bytes only) stays 0, what the flow
//     let through. After the restart the allowed request fills the hole; the
//     server then reads both.
//
// Controls: a raw allowed request arrives before the kill, and a new denied
// request is reset after the restart.
//
// Fixed: dropped-copy and ooo by the socket check itself (exactly the bytes
// let through, all acknowledged; no segment out of order); every variant by
// the hooks' revisions: a restarted agent keeps flows only where no program
// was attached to, detached from or replaced on the TCX hooks since the
// earlier agent last found its own first (attach.InPlace), and never in
// clsact mode.
func TestRedteamRT44SocketVouchesForStaleFlow(t *testing.T) {
	t.Parallel()
	for i, mode := range []string{"clsact", "tcx"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tp := newTopo44(t, 1+i)
			srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", mode)
			type held struct {
				copyF, oooF         *Flow
				copyTok, oooTok     string
				allowedHead, filler []byte
				re, idle            *reconnected
			}
			conns := map[string]*held{}
			for _, s := range srvs {
				tp.rawControl(t, s, false)
				h := &held{copyTok: token("rt44copy"), oooTok: token("rt44ooo")}
				_, allowed := twins(h.copyTok)
				h.allowedHead = allowed[:len(allowed)-2]
				h.copyF = tp.connect(t, s.Port(), false, nil)
				// Parsed by the datapath, dropped by the server.
				sendDroppedCopy(t, h.copyF, h.allowedHead)
				h.oooF = tp.connect(t, s.Port(), false, nil)
				h.filler = request("/api/v1/" + token("rt44fill"))

				reTok := token("rt44re")
				denied, allowed := twins(reTok)
				h.re = &reconnected{tok: reTok, old: allowed[:len(allowed)-2], new: denied[:len(denied)-2], finish: []byte("\r\n")}
				idleTok := token("rt44idle")
				open := "GET /api/admin/" + idleTok + " HTTP/1.1\r\nX-Pad: "
				old := request("/api/v1/" + strings.Repeat("a", len(open)))
				h.idle = &reconnected{tok: idleTok, old: old, new: []byte(open + strings.Repeat("p", len(old)-len(open))),
					finish: request("/api/v1/" + token("rt44next"))}
				for _, r := range []*reconnected{h.re, h.idle} {
					r.f = tp.connect(t, s.Port(), false, nil)
					must(t, r.f.Data(r.f.ISN+1, r.old))
				}
				conns[s.Name()] = h
			}
			time.Sleep(100 * time.Millisecond) // the server acknowledges the allowed bytes
			a.Kill()
			remove := passAhead(t, mode, tp.srv.Port)
			for _, s := range srvs {
				h := conns[s.Name()]
				denied, _ := twins(h.copyTok)
				must(t, h.copyF.Data(h.copyF.ISN+1, denied[:len(denied)-2]))
				must(t, h.oooF.Data(h.oooF.ISN+1+uint32(len(h.filler)), request("/api/admin/"+h.oooTok)))
				h.re.reopen(t)
				h.idle.reopen(t)
			}
			time.Sleep(200 * time.Millisecond) // the server takes the heads, queues the request
			remove()
			b := restartOn(t, tp, a.PinDir, mode)
			forServers(t, srvs, func(t *testing.T, s server) {
				expectNewDeniedReset(t, tp, s, "after the restart")
				h := conns[s.Name()]
				t.Run("dropped-copy", func(t *testing.T) {
					f := h.copyF
					must(t, f.Data(f.ISN+1+uint32(len(h.allowedHead)), []byte("\r\n")))
					resp, rst := f.Response("\r\n\r\n", time.Second)
					expectNeverRun(t, s, h.copyTok, "GET /api/admin/"+h.copyTok+" whose head the server took unseen in place of a dropped allowed copy the flow counted ("+describe(resp, rst)+")")
				})
				t.Run("reconnect", func(t *testing.T) { h.re.finishOn(t, s) })
				t.Run("reconnect-idle", func(t *testing.T) { h.idle.finishOn(t, s) })
				t.Run("ooo", func(t *testing.T) {
					f := h.oooF
					must(t, f.Data(f.ISN+1, h.filler))
					resp, rst := f.Response("\r\n\r\n", time.Second)
					expectNeverRun(t, s, h.oooTok, "GET /api/admin/"+h.oooTok+" the server queued out of order while no agent ran and read once an allowed request after the restart filled the hole ("+describe(resp, rst)+")")
				})
			})
			t.Logf("drops: %s", metricsSummary(b))
		})
	}
}

// reconnected is a raw connection that takes old (allowed) while the agent
// runs, and is opened again with the same ISN on the same 4-tuple while
// no agent does, its server then taking new (as long as old).
type reconnected struct {
	f                *Flow
	tok              string
	old, new, finish []byte
}

// reopen resets the connection at the server's next byte, opens it again
// with the same ISN and sends new.
func (r *reconnected) reopen(t *testing.T) {
	t.Helper()
	f := r.f
	must(t, f.Send(Segment{Seq: f.ISN + 1 + uint32(len(r.old)), Ack: f.SrvISN + 1, Flags: RST | ACK}))
	time.Sleep(20 * time.Millisecond)
	srvISN, err := synFor(f, f.ISN, time.Second)
	must(t, err)
	f.adopt(f.ISN, srvISN)
	must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: srvISN + 1, Flags: ACK}))
	must(t, f.Data(f.ISN+1, r.new))
}

// finishOn sends an old byte (the server's ACK shows the reply program the
// new connection's sequence numbers), then finish at the flow's next byte,
// and checks that the denied request never ran on s.
func (r *reconnected) finishOn(t *testing.T, s server) {
	t.Helper()
	f := r.f
	must(t, f.Send(Segment{Seq: f.ISN, Ack: f.SrvISN + 1, Flags: ACK}))
	time.Sleep(100 * time.Millisecond)
	must(t, f.Data(f.ISN+1+uint32(len(r.old)), r.finish))
	resp, rst := f.Response("\r\n\r\n", time.Second)
	expectNeverRun(t, s, r.tok, "GET /api/admin/"+r.tok+" whose head a connection opened again on the flow's 4-tuple took unseen while no agent ran ("+describe(resp, rst)+")")
}

// TestRedteamRT44KeepAliveAcrossRestart (legitimate traffic): keep-alive
// connections over IPv4 and IPv6 to Go, nginx and Python serve their next
// request after a restart that found the attachment in place.
func TestRedteamRT44KeepAliveAcrossRestart(t *testing.T) {
	t.Parallel()
	tp := newTopo44(t, 5)
	srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", "tcx")
	type kc struct {
		c    net.Conn
		name string
	}
	var conns []kc
	for _, s := range srvs {
		for _, addr := range []string{tp.srvAddr(s.Port()), net.JoinHostPort(tp.srv6.String(), itoa(s.Port()))} {
			c, err := tp.cli.DialContext(context.Background(), "tcp", addr)
			must(t, err)
			defer c.Close()
			if _, err := c.Write(request("/api/v1/" + token("ka-before"))); err != nil {
				t.Fatal(err)
			}
			if resp, err := readAll(c, 500*time.Millisecond); !strings.HasPrefix(resp, "HTTP/1.1 200") {
				t.Fatalf("%s %s before: %q %v", s.Name(), addr, resp, err)
			}
			conns = append(conns, kc{c, s.Name() + " " + addr})
		}
	}
	a.Kill()
	b := restartOn(t, tp, a.PinDir, "tcx")
	for _, k := range conns {
		if _, err := k.c.Write(request("/api/v1/" + token("ka-after"))); err != nil {
			t.Errorf("%s: %v", k.name, err)
			continue
		}
		if resp, err := readAll(k.c, 500*time.Millisecond); !strings.HasPrefix(resp, "HTTP/1.1 200") {
			t.Errorf("%s after the restart: %q %v", k.name, firstLine(resp, err), err)
		}
	}
	t.Logf("%s", grepLines(b.Logs.String(), "connections", "flows", "forget"))
}

func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
