package observe

import (
	"encoding/binary"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// encodeEvent is e as the kernel writes it (struct axs_event, little
// endian), with e.Data as its captured bytes.
func encodeEvent(e Event) []byte {
	b := make([]byte, headerSize+len(e.Data))
	le := binary.LittleEndian
	b[0], b[1], b[2] = e.Type, e.Dir, afInet
	if e.Cont {
		b[3] = flagCont
	}
	le.PutUint16(b[4:], e.LPort)
	le.PutUint16(b[6:], e.RPort)
	le.PutUint32(b[8:], e.Netns)
	le.PutUint32(b[12:], e.TGID)
	le.PutUint32(b[16:], e.Seq)
	le.PutUint32(b[20:], e.Total)
	le.PutUint32(b[24:], uint32(len(e.Data)))
	le.PutUint64(b[32:], e.TS)
	le.PutUint64(b[40:], e.Conn)
	copy(b[48:], []byte{10, 0, 0, 2})
	copy(b[64:], []byte{10, 0, 0, 1})
	copy(b[headerSize:], e.Data)
	return b
}

// FuzzPairEvents: whatever a monitored pod writes and reads (the bytes of
// every message are the pod's to choose), and however the events of its
// connections arrive (gaps, closes, continuations, reads shorter than what
// the syscall moved), the agent's decoding, pairing and counting never
// panic, /metrics stays valid exposition, and a workload never has more
// than its route cap plus route="other" on either side.
//
// The input is a sequence of events: a control byte (bits 0-1 the
// connection, 2 a close, 3 the write direction, 4 a sequence gap, 5 a
// continuation, 6 a syscall that moved more than was captured), a length
// byte, and that many bytes of data.
func FuzzPairEvents(f *testing.F) {
	ev := func(ctl byte, data string) []byte { return append([]byte{ctl, byte(len(data))}, data...) }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	f.Add(cat(ev(0, "GET /api/1 HTTP/1.1\r\nHost: h\r\n\r\n"), ev(8, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")))
	f.Add(cat(ev(0, "POST /api/2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /x HTTP/1.1\r\n\r\n"),
		ev(8, "HTTP/1.1 500 E\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 404 N\r\n\r\n"), ev(4, "")))
	f.Add(cat(ev(9, "GET /a HTTP/1.1\r\n\r\n"), ev(1|16, "HTTP/1.1 100 C\r\n\r\nHTTP/1.1 204 N\r\n\r\n"),
		ev(1|32, "tail of a body HTTP/1.1 200 OK\r\n\r\n"), ev(2|64, "GET /"), ev(2, "HEAD /b HTTP/1.0\r\n\r\n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxRoutes = 3
		w := Workload{Namespace: "shop", Name: "orders", Routes: NewTemplate([]string{"/api/*"}), MaxRoutes: maxRoutes}
		coll := NewCollector(staticResolver{7: w}, nil)
		p := NewPairer(coll)
		seq := map[uint64]uint32{}
		for ts := uint64(1); len(b) >= 2; ts += 1000 {
			ctl, n := b[0], min(int(b[1]), len(b)-2)
			data := b[2 : 2+n]
			b = b[2+n:]
			e := Event{Type: evData, Dir: dirRead, Netns: 7, LPort: 8080, RPort: 40000, TS: ts,
				Conn: uint64(ctl & 3), Cont: ctl&32 != 0, Data: data, Total: uint32(n)}
			if ctl&4 != 0 {
				e.Type, e.Data, e.Total = evClose, nil, 0
			}
			if ctl&8 != 0 {
				e.Dir = dirWrite
			}
			if ctl&64 != 0 {
				e.Total += 100
			}
			seq[e.Conn]++
			if ctl&16 != 0 {
				seq[e.Conn]++
			}
			e.Seq = seq[e.Conn]
			got, err := decodeEvent(encodeEvent(e))
			if err != nil {
				t.Fatalf("decoding an event the kernel could write: %v", err)
			}
			p.Handle(got)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(coll)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("/metrics is not valid exposition: %v", err)
		}
		routes := map[string]map[string]bool{} // metric -> routes
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if r, ok := label(m, "route"); ok {
					if routes[mf.GetName()] == nil {
						routes[mf.GetName()] = map[string]bool{}
					}
					routes[mf.GetName()][r] = true
				}
			}
		}
		for name, rs := range routes {
			if len(rs) > maxRoutes+1 {
				t.Errorf("%s: %d route values, want at most %d: %v", name, len(rs), maxRoutes+1, rs)
			}
		}
	})
}

// label is the value of m's label name.
func label(m *dto.Metric, name string) (string, bool) {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return "", false
}
