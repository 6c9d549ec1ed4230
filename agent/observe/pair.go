package observe

import (
	"bytes"
	"net/netip"
	"time"
)

// Side says which end of a connection the monitored process is.
type Side uint8

// The two sides of an observed exchange.
const (
	Server Side = 1 // the process read the request and wrote the response
	Client Side = 2 // the process wrote the request and read the response
)

func (s Side) String() string {
	if s == Client {
		return "client"
	}
	return "server"
}

// Exchange is one request paired with its response.
type Exchange struct {
	Side     Side
	Netns    uint32 // the monitored process's network namespace
	Local    netip.AddrPort
	Peer     netip.AddrPort
	Method   string
	Path     string
	Status   int
	Duration time.Duration // request read (server) or written (client) to response written or read
	ReqLen   int64         // request Content-Length, -1 if none
	RespLen  int64         // response Content-Length, -1 if none
	// At is when the agent saw the exchange (the reader's clock for the
	// batch of events it came in; zero: the sink reads its own clock).
	At time.Time
}

// Loss reasons counted by the pairer (besides the BPF program's own).
const (
	LossSeqGap         = "sequence_gap"       // events of a connection lost: its pending requests dropped
	LossTruncated      = "truncated"          // a buffer held more messages than the capture showed
	LossUnparsable     = "unparsable"         // a buffer started like HTTP but did not parse
	LossUnmatched      = "unmatched_response" // a response with no pending request
	LossPendingTooMany = "pipeline_overflow"  // more pending requests than maxPending
	LossExpired        = "expired_connection" // pending requests of a connection idle too long
)

// maxPending bounds the requests waiting for responses on one connection.
const maxPending = 64

type pending struct {
	method string
	path   string
	start  uint64
	clen   int64
}

type conn struct {
	lastSeq uint32
	side    Side
	queue   []pending
	seen    time.Time
	// rest is, per direction (read, write), how many bytes of the last
	// message's body are still to come in later buffers; -1 unknown.
	rest [2]int64
}

// Sink receives what the pairer produces.
type Sink interface {
	Exchange(x Exchange)
	// Unanswered counts requests still waiting for a response when their
	// connection closed.
	Unanswered(side Side, netns uint32, n int)
	Loss(reason string, n int)
}

// Pairer turns the ordered events of each connection into exchanges: the
// kernel numbers every connection's events, so a gap is a known loss.
type Pairer struct {
	sink  Sink
	conns map[uint64]*conn
	now   func() time.Time
	// clock is the time of the batch of events being handled (Tick): it
	// dates connections for Expire, which counts idle minutes. Zero: now()
	// is read per event.
	clock time.Time
}

// NewPairer returns a pairer feeding sink.
func NewPairer(sink Sink) *Pairer {
	return &Pairer{sink: sink, conns: map[uint64]*conn{}, now: time.Now}
}

// Tick sets the time of the events handled next: the reader reads the
// clock once per batch of events, not once per event.
func (p *Pairer) Tick(now time.Time) { p.clock = now }

// Handle processes one event.
func (p *Pairer) Handle(e Event) {
	c := p.conns[e.Conn]
	if c == nil {
		c = &conn{}
		p.conns[e.Conn] = c
	}
	c.seen = p.clock
	if c.seen.IsZero() {
		c.seen = p.now()
	}
	if e.Seq != c.lastSeq+1 {
		// Events of this connection were lost (ring buffer full): what is
		// pending may pair with the wrong responses, so drop it.
		p.sink.Loss(LossSeqGap, 1)
		if len(c.queue) > 0 {
			p.sink.Loss(LossSeqGap, len(c.queue))
			c.queue = c.queue[:0]
		}
	}
	c.lastSeq = e.Seq
	switch e.Type {
	case evClose:
		if len(c.queue) > 0 {
			p.sink.Unanswered(c.side, e.Netns, len(c.queue))
		}
		delete(p.conns, e.Conn)
	case evData:
		p.data(c, e)
	}
}

func (p *Pairer) data(c *conn, e Event) {
	d := 0
	if e.Dir == dirWrite {
		d = 1
	}
	off := 0
	if e.Cont {
		// The rest of a body, maybe followed by the next message.
		r := c.rest[d]
		switch {
		case r <= 0:
			return // no body pending, or of unknown length: not ours to parse
		case r >= int64(e.Total):
			c.rest[d] = r - int64(e.Total)
			return
		case r >= int64(len(e.Data)):
			c.rest[d] = 0
			p.sink.Loss(LossTruncated, 1) // the next message starts past the capture
			return
		}
		off = int(r)
		c.rest[d] = 0
	} else {
		c.rest[d] = 0
	}
	rest := e.Data[off:]
	isReq := !hasPrefix(rest, http1)
	switch {
	case isReq && e.Dir == dirRead:
		c.side = Server
	case isReq:
		c.side = Client
	case e.Dir == dirWrite:
		c.side = Server
	default:
		c.side = Client
	}
	for n := 0; off < len(e.Data); n++ {
		b := e.Data[off:]
		var h head
		var ok bool
		if isReq {
			h, ok = parseRequest(b)
		} else {
			noBody := len(c.queue) > 0 && c.queue[0].method == "HEAD"
			h, ok = parseResponse(b, noBody)
		}
		if !ok {
			if n == 0 {
				p.sink.Loss(LossUnparsable, 1)
			}
			// Bytes after a complete message that start no message are
			// a body we could not delimit or garbage: stop here.
			return
		}
		if isReq {
			p.request(c, h, e.TS)
		} else {
			p.response(c, h, e)
		}
		if h.next < 0 {
			c.rest[d] = -1
			if len(e.Data) < int(e.Total) && !bytes.Contains(b, crlf2) {
				// The head runs past the capture: whatever followed
				// it in the same buffer is not seen.
				p.sink.Loss(LossTruncated, 1)
			}
			return
		}
		off += h.next
		if off >= len(e.Data) {
			switch {
			case off > int(e.Total):
				// The body goes on in later buffers.
				c.rest[d] = int64(off) - int64(e.Total)
			case off < int(e.Total):
				// The syscall moved bytes after this message that the
				// capture does not show: at least one message is lost.
				p.sink.Loss(LossTruncated, 1)
			}
			return
		}
	}
}

func (p *Pairer) request(c *conn, h head, ts uint64) {
	if len(c.queue) >= maxPending {
		p.sink.Loss(LossPendingTooMany, 1)
		return
	}
	c.queue = append(c.queue, pending{method: h.method, path: h.path, start: ts, clen: h.clen})
}

func (p *Pairer) response(c *conn, h head, e Event) {
	if h.status < 200 {
		return // interim (1xx): the final response follows
	}
	if len(c.queue) == 0 {
		p.sink.Loss(LossUnmatched, 1)
		return
	}
	r := c.queue[0]
	c.queue = c.queue[1:]
	var d time.Duration
	if e.TS > r.start {
		d = time.Duration(e.TS - r.start)
	}
	p.sink.Exchange(Exchange{
		Side: c.side, Netns: e.Netns,
		Local: netip.AddrPortFrom(e.LAddr, e.LPort), Peer: netip.AddrPortFrom(e.RAddr, e.RPort),
		Method: r.method, Path: r.path, Status: h.status, Duration: d,
		ReqLen: r.clen, RespLen: h.clen, At: c.seen,
	})
}

// Expire forgets connections idle for longer than idle (their close was
// not seen, e.g. the kernel's table evicted them), counting their pending
// requests as lost.
func (p *Pairer) Expire(idle time.Duration) {
	cut := p.now().Add(-idle)
	for k, c := range p.conns {
		if c.seen.Before(cut) {
			if len(c.queue) > 0 {
				p.sink.Loss(LossExpired, len(c.queue))
			}
			delete(p.conns, k)
		}
	}
}

func hasPrefix(b, p []byte) bool { return len(b) >= len(p) && string(b[:len(p)]) == string(p) }
