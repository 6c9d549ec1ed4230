package evasion

import (
	"testing"
	"time"
)

// newTopo94 is newTopo on 10.94.<n>.0/24 and fd94:<n>::/64, the range of
// the red team's findings of classes 24 and 25 (FIN and CONNECT tests).
func newTopo94(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.94", "fd94", n)
}

// TestRedteamFINOutsideNextByte: class 20 (a request line ended by the
// client's FIN) is closed by refusing a FIN at the datapath's next byte
// while a request line is open. But a FIN is a position of the sequence
// space like a data byte, and the server's stack takes a FIN at other
// places than that next byte:
//
//   - fin-ahead: a bare FIN after a hole, then the bytes of the hole. The
//     stack queues the FIN out of order and delivers it once the hole is
//     filled; the datapath passed it (not at its next byte) and then
//     parses the line, which is open at the end of the segment.
//   - acked-retransmission-with-fin: the line's last byte, already
//     acknowledged by the server, sent again with FIN. The datapath passes
//     a segment whose bytes the server holds without looking at its FIN,
//     which sits at the datapath's next byte.
//   - fin-in-hole: a byte after the line in a segment the server discards
//     (a bad checksum), then a bare FIN where that byte was: the server's
//     next byte, which the datapath already counts as parsed.
//   - rst-then-fin: as fin-in-hole, with a RST at the datapath's next byte
//     before the FIN. The datapath forgets the flow; the server, whose
//     next byte is one earlier, answers the RST with a challenge ACK and
//     keeps the connection. A FIN without a flow passed untouched.
//   - deny-reset-then-fin: as fin-in-hole, then the rest of the request
//     line: the datapath denies /api/admin/<tok>x and turns the segment
//     into a RST at its next byte, which the server, one byte behind,
//     refuses. A FIN on a flow in state reset passed untouched.
//
// (fin-without-ack, a bare FIN without the ACK flag at the end of the line,
// which the datapath passes as it passes every zero-length segment without
// ACK, is held by the server's stack: Linux discards segments without ACK.)
//
// In each case the server reads "GET /api/admin/<tok>" and then end of
// stream: Python's http.server serves it as an HTTP/0.9 request (Go fails
// on the missing version; nginx logs a 400, see expectNeverRun).
func TestRedteamFINOutsideNextByte(t *testing.T) {
	t.Parallel()
	tp := newTopo94(t, 1)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	tricks := map[string]func(t *testing.T, f *Flow, line []byte){
		"fin-ahead": func(t *testing.T, f *Flow, line []byte) {
			end := f.ISN + 1 + uint32(len(line))
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | FIN}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Data(f.ISN+1, line))
		},
		"acked-retransmission-with-fin": func(t *testing.T, f *Flow, line []byte) {
			must(t, f.Data(f.ISN+1, line))
			time.Sleep(100 * time.Millisecond) // the server's ACK
			last := f.ISN + uint32(len(line))
			must(t, f.Send(Segment{Seq: last, Ack: f.SrvISN + 1, Flags: ACK | PSH | FIN, Payload: line[len(line)-1:]}))
		},
		"fin-in-hole": func(t *testing.T, f *Flow, line []byte) {
			must(t, f.Data(f.ISN+1, line))
			time.Sleep(100 * time.Millisecond)
			end := f.ISN + 1 + uint32(len(line))
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: []byte("x"), BadChecksum: true}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | FIN}))
		},
		"rst-then-fin": func(t *testing.T, f *Flow, line []byte) {
			must(t, f.Data(f.ISN+1, line))
			time.Sleep(100 * time.Millisecond)
			end := f.ISN + 1 + uint32(len(line))
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: []byte("x"), BadChecksum: true}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Send(Segment{Seq: end + 1, Ack: f.SrvISN + 1, Flags: ACK | RST}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | FIN}))
		},
		"fin-without-ack": func(t *testing.T, f *Flow, line []byte) {
			must(t, f.Data(f.ISN+1, line))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Send(Segment{Seq: f.ISN + 1 + uint32(len(line)), Flags: FIN}))
		},
		"deny-reset-then-fin": func(t *testing.T, f *Flow, line []byte) {
			must(t, f.Data(f.ISN+1, line))
			time.Sleep(100 * time.Millisecond)
			end := f.ISN + 1 + uint32(len(line))
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: []byte("x"), BadChecksum: true}))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Data(end+1, []byte(" HTTP/1.1\r\nHost: srv\r\n\r\n")))
			time.Sleep(20 * time.Millisecond)
			must(t, f.Send(Segment{Seq: end, Ack: f.SrvISN + 1, Flags: ACK | FIN}))
		},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		for name, trick := range tricks {
			t.Run(name, func(t *testing.T) {
				tok := token(name)
				f := tp.connect(t, s.Port(), false, nil)
				trick(t, f, []byte("GET /api/admin/"+tok))
				resp, rst := f.Response("\n", 500*time.Millisecond)
				expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" ended by a FIN ("+describe(resp, rst)+")")
			})
		}
	})
}
