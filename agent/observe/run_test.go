package observe

import (
	"context"
	"testing"
	"time"
)

// writingSink is a Sink whose Loss makes the kernel write one more record
// into the ring (records shorter than an event are counted unparsable), so
// the ring never runs dry while it writes, and which ends the reader's ctx
// after its first records.
type writingSink struct {
	t           *testing.T
	w           *ringWriter
	cancel      context.CancelFunc
	seen, limit int
	afterCancel int
	cancelled   bool
}

func (s *writingSink) Exchange(Exchange)            {}
func (s *writingSink) Unanswered(Side, uint32, int) {}

func (s *writingSink) Loss(reason string, n int) {
	s.seen++
	if s.cancelled {
		s.afterCancel++
	}
	if s.seen == 100 {
		s.cancel()
		s.cancelled = true
	}
	if s.seen < s.limit {
		s.w.write(s.t, uint64(s.seen), 64)
	}
}

// TestRunReturnsWhileWritten: once ctx ends, Run returns after at most
// about a ring's worth of records, however fast the kernel writes (the
// agent's shutdown waits for it).
func TestRunReturnsWhileWritten(t *testing.T) {
	const ringSize = 1 << 20
	w, r := openTestRing(t, ringSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	perRing := ringSize / (64 + ringHdrSize)
	sink := &writingSink{t: t, w: w, cancel: cancel, limit: 4 * perRing}
	w.write(t, 0, 64)
	start := time.Now()
	if err := readRing(ctx, r, NewPairer(sink)); err != nil {
		t.Fatal(err)
	}
	if sink.afterCancel > perRing+1 {
		t.Fatalf("Run handled %d records after ctx ended (%v in all) while the kernel kept writing; want at most a ring's worth (%d)",
			sink.afterCancel, time.Since(start), perRing)
	}
}
