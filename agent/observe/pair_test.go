package observe

import (
	"testing"
)

type sinkRec struct {
	xs     []Exchange
	losses map[string]int
	unans  int
}

func (s *sinkRec) Exchange(x Exchange)                { s.xs = append(s.xs, x) }
func (s *sinkRec) Unanswered(_ Side, _ uint32, n int) { s.unans += n }
func (s *sinkRec) Loss(r string, n int) {
	if s.losses == nil {
		s.losses = map[string]int{}
	}
	s.losses[r] += n
}

// TestPairContinuation: a response head in one read, then its body and the
// next pipelined response in the next read (a continuation event): both
// responses pair with their requests, in order.
func TestPairContinuation(t *testing.T) {
	s := &sinkRec{}
	p := NewPairer(s)
	seq := uint32(0)
	ev := func(dir uint8, cont bool, data string, total int) Event {
		seq++
		return Event{Type: evData, Dir: dir, Cont: cont, Seq: seq, Conn: 1, TS: uint64(seq) * 1000, Data: []byte(data), Total: uint32(total)}
	}
	reqs := "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
	p.Handle(ev(dirWrite, false, reqs, len(reqs)))
	head := "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
	p.Handle(ev(dirRead, false, head, len(head)))
	rest := "api\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	p.Handle(ev(dirRead, true, rest, len(rest)))
	// A body continuation with nothing after it is skipped silently.
	big := "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234"
	p.Handle(ev(dirWrite, false, "GET /c HTTP/1.1\r\n\r\n", 19))
	p.Handle(ev(dirRead, false, big, len(big)))
	p.Handle(ev(dirRead, true, "56789", 5))
	if len(s.xs) != 3 || s.xs[0].Path != "/a" || s.xs[0].Status != 200 || s.xs[1].Path != "/b" || s.xs[1].Status != 404 ||
		s.xs[2].Path != "/c" || s.xs[2].RespLen != 10 || s.xs[0].Side != Client {
		t.Fatalf("exchanges: %+v", s.xs)
	}
	if len(s.losses) != 0 {
		t.Errorf("losses: %v", s.losses)
	}
	// A gap in the sequence drops what is pending instead of mispairing.
	p.Handle(ev(dirWrite, false, "GET /d HTTP/1.1\r\n\r\n", 19))
	seq++ // a lost event
	p.Handle(ev(dirRead, false, head+"api\n", len(head)+4))
	if len(s.xs) != 3 || s.losses[LossSeqGap] != 2 || s.losses[LossUnmatched] != 1 {
		t.Errorf("after a gap: %d exchanges, losses %v", len(s.xs), s.losses)
	}
}
