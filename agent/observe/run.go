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
	for {
		if ctx.Err() != nil {
			return nil
		}
		rd.SetDeadline(time.Now().Add(200 * time.Millisecond))
		err := rd.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
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
		}
		if time.Since(lastExpire) > time.Minute {
			pairer.Expire(connIdle)
			lastExpire = time.Now()
		}
	}
}
