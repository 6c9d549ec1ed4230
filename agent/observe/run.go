package observe

import (
	"context"
	"fmt"
	"time"
)

// connIdle is how long a connection's state is kept without events; the
// kernel side forgets connections at close or by LRU eviction.
const connIdle = 10 * time.Minute

// pollEvery is how long the reader waits for a wakeup before it reads what
// the kernel queued without one (it wakes the reader only once
// AXS_WAKEUP_BYTES wait).
const pollEvery = 200 * time.Millisecond

// Run reads the ring buffer until ctx ends, feeding pairer. It is the only
// goroutine that touches pairer.
func Run(ctx context.Context, p *Programs, pairer *Pairer) error {
	r, err := openRing(p.maps.AxsEvents)
	if err != nil {
		return fmt.Errorf("opening observer ring buffer: %w", err)
	}
	defer r.Close()
	return readRing(ctx, r, pairer)
}

// readRing is Run's loop on an open ring.
func readRing(ctx context.Context, r *ring, pairer *Pairer) error {
	handle := func(raw []byte) {
		if e, err := decodeEvent(raw); err == nil {
			pairer.Handle(e)
		} else {
			pairer.sink.Loss(LossUnparsable, 1)
		}
	}
	lastExpire := time.Now()
	for ctx.Err() == nil {
		now := time.Now()
		pairer.Tick(now)
		_, more := r.drain(handle)
		if now.Sub(lastExpire) > time.Minute {
			pairer.Expire(connIdle)
			lastExpire = now
		}
		if more {
			continue
		}
		if err := r.wait(pollEvery); err != nil {
			return err
		}
	}
	return nil
}
