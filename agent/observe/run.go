package observe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"
)

// connIdle is how long a connection's state is kept without events; the
// kernel side forgets connections at close or by LRU eviction.
const connIdle = 10 * time.Minute

// pollEvery is how long the reader waits for a wakeup before it reads what
// the kernel queued without one (it wakes the reader only once
// AXS_WAKEUP_BYTES wait).
const pollEvery = 200 * time.Millisecond

// checkEvery is how many records the reader handles between two looks at
// ctx and the clock while records keep coming.
const checkEvery = 4096

// Run reads the ring buffer until ctx ends, feeding pairer. It is the only
// goroutine that touches pairer.
func Run(ctx context.Context, p *Programs, pairer *Pairer) error {
	rd, err := p.NewReader()
	if err != nil {
		return err
	}
	defer rd.Close()
	lastExpire := time.Now()
	var rec ringbuf.Record
	rd.SetDeadline(time.Now().Add(pollEvery))
	for n := 1; ; n++ {
		err := rd.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The ring is drained: the next wait is a full poll period.
			rd.SetDeadline(time.Now().Add(pollEvery))
			n = 0
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("reading observer events: %w", err)
		default:
			if e, err := decodeEvent(rec.RawSample); err == nil {
				pairer.Handle(e)
			} else {
				pairer.sink.Loss(LossUnparsable, 1)
			}
			if n%checkEvery != 0 {
				continue
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(lastExpire) > time.Minute {
			pairer.Expire(connIdle)
			lastExpire = time.Now()
		}
	}
}
