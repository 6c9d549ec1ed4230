package agent

import "time"

// maxRetryApply caps the delay between retries of a table the maps rejected.
const maxRetryApply = 30 * time.Second

// backoff is a timer whose delay doubles on each retry, from first up to
// max. Its zero channel never fires while stopped. Not safe for concurrent use.
type backoff struct {
	first, max, delay time.Duration
	t                 *time.Timer
}

func newBackoff(first, limit time.Duration) *backoff {
	return &backoff{first: first, max: limit}
}

// start schedules the first retry.
func (b *backoff) start() {
	b.stop()
	b.delay = b.first
	b.t = time.NewTimer(b.delay)
}

// next schedules the following retry, after twice the last delay.
func (b *backoff) next() {
	b.stop()
	b.delay = min(2*b.delay, b.max)
	b.t = time.NewTimer(b.delay)
}

// stop cancels the scheduled retry.
func (b *backoff) stop() {
	if b.t != nil {
		b.t.Stop()
		b.t = nil
	}
}

// C fires when a retry is due; nil (never) while stopped.
func (b *backoff) C() <-chan time.Time {
	if b.t == nil {
		return nil
	}
	return b.t.C
}
