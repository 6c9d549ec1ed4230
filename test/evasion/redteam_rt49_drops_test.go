package evasion

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// Red team rt49: segments the server's TCP stack drops (PAWS, an old ACK,
// an MD5 option) that the datapath parsed, then a different copy of their
// bytes. Topologies on 10.62.<n>.0/24 and fd62:<n>::/64.

func newTopo62(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.62", "fd62", n)
}

// tsOpt is MSS 1400 (SYN only), NOP NOP and a timestamp option.
func tsOpt(syn bool, tsval, tsecr uint32) []byte {
	var o []byte
	if syn {
		o = append(o, MSSOption(1400)...)
	}
	o = append(o, 1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(o[len(o)-8:], tsval)
	binary.BigEndian.PutUint32(o[len(o)-4:], tsecr)
	return o
}

// tsSyn sends a SYN with timestamps and waits for the SYN-ACK (no ACK sent).
func tsSyn(t *testing.T, f *Flow, tsval uint32) {
	t.Helper()
	must(t, f.Send(Segment{Seq: f.ISN, Flags: SYN, Options: tsOpt(true, tsval, 0)}))
	deadline := time.After(3 * time.Second)
	for {
		select {
		case p := <-f.in:
			if p.Flags&(SYN|ACK) == SYN|ACK && p.Ack == f.ISN+1 {
				f.SrvISN = p.Seq
				f.srvNext = p.Seq + 1
				return
			}
		case <-deadline:
			t.Fatal("no SYN-ACK")
		}
	}
}

func pad(s string, n int) string {
	if len(s) > n {
		panic("pad")
	}
	return s[:len(s)-2] + strings.Repeat("a", n-len(s)) + "\r\n"
}

// TestRedteamRt49Drops (held): with timestamps negotiated, an allowed head
// the server's stack drops (PAWS: TSval older than ts_recent, on an
// established socket and on the request socket in SYN_RECV; an ACK more
// than a window behind; an unexpected MD5 option), then a denied copy of
// the same bytes three times, then the end of the head. Rule 3 drops the
// copies (not acknowledged) and the third resets; also with the SYN resent
// after the dropped head (the request socket's SYN-ACK restarts the flow,
// and the denied copy is parsed and reset).
func TestRedteamRt49Drops(t *testing.T) {
	t.Parallel()
	tp := newTopo62(t, 1)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	type trick func(t *testing.T, f *Flow, a, b []byte)
	dataTS := func(f *Flow, seq uint32, tsval uint32, payload []byte) Segment {
		return Segment{Seq: seq, Ack: f.SrvISN + 1, Flags: ACK | PSH, Options: tsOpt(false, tsval, 0), Payload: payload}
	}
	// each trick: a (allowed line) sent so that the server drops it, then
	// b (denied line, same length) sent as an ordinary copy, three times.
	copies := func(t *testing.T, f *Flow, b []byte, ts uint32) {
		for i := 0; i < 3; i++ {
			must(t, f.Send(dataTS(f, f.ISN+1, ts+uint32(i), b)))
			time.Sleep(40 * time.Millisecond)
		}
		must(t, f.Send(dataTS(f, f.ISN+1+uint32(len(b)), ts+5, []byte("Host: srv\r\n\r\n"))))
	}
	// established completes the handshake with timestamps, sends the
	// allowed line in the segment dropped builds (one the server's stack
	// discards; built once the handshake is known), then the denied
	// copies.
	established := func(t *testing.T, f *Flow, b []byte, dropped func() Segment) {
		tsSyn(t, f, 100000)
		must(t, f.Send(Segment{Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK, Options: tsOpt(false, 100001, 0)}))
		time.Sleep(20 * time.Millisecond)
		must(t, f.Send(dropped()))
		time.Sleep(40 * time.Millisecond)
		copies(t, f, b, 100010)
	}
	tricks := map[string]trick{
		"paws": func(t *testing.T, f *Flow, a, b []byte) {
			established(t, f, b, func() Segment { return dataTS(f, f.ISN+1, 5, a) })
		},
		"paws-synrecv": func(t *testing.T, f *Flow, a, b []byte) {
			tsSyn(t, f, 100000)
			must(t, f.Send(dataTS(f, f.ISN+1, 5, a)))
			time.Sleep(40 * time.Millisecond)
			copies(t, f, b, 100010)
		},
		"paws-synrecv-resyn": func(t *testing.T, f *Flow, a, b []byte) {
			tsSyn(t, f, 100000)
			must(t, f.Send(dataTS(f, f.ISN+1, 5, a)))
			time.Sleep(40 * time.Millisecond)
			tsSyn(t, f, 100000)
			time.Sleep(20 * time.Millisecond)
			copies(t, f, b, 100010)
		},
		"ack-too-old": func(t *testing.T, f *Flow, a, b []byte) {
			established(t, f, b, func() Segment {
				s := dataTS(f, f.ISN+1, 100002, a)
				s.Ack = f.SrvISN + 1 - 1000000
				return s
			})
		},
		"md5": func(t *testing.T, f *Flow, a, b []byte) {
			established(t, f, b, func() Segment {
				s := dataTS(f, f.ISN+1, 100002, a)
				s.Options = append([]byte{19, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, s.Options...)
				return s
			})
		},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		for name, tr := range tricks {
			t.Run(name, func(t *testing.T) {
				ok, bad := token("rt49ok"), token("rt49bad")
				bl := "GET /api/admin/" + bad + " HTTP/1.1\r\n"
				al := pad("GET /api/v1/"+ok+" HTTP/1.1\r\nX-P: \r\n", len(bl)+8)
				bl = pad(bl[:len(bl)-2]+"\r\nX-P: \r\n", len(al))
				f := tp.rawFlow(s.Port(), false)
				t.Cleanup(f.Abort)
				tr(t, f, []byte(al), []byte(bl))
				resp, rst := f.Response("\r\n\r\n", 700*time.Millisecond)
				t.Logf("%s %s: %s", s.Name(), name, describe(resp, rst))
				expectNeverRun(t, s, bad, name+": a dropped allowed copy, then a denied copy")
			})
		}
	})
}
