package agent

import "time"

// stageClock times the stages of one reload for the debug log ("policy
// reload stages"): each mark adds the time since the previous mark under
// its name. A nil clock marks nothing.
type stageClock struct {
	last  time.Time
	attrs []any
}

func newStageClock(start time.Time) *stageClock { return &stageClock{last: start} }

func (c *stageClock) mark(name string) {
	if c == nil {
		return
	}
	now := time.Now()
	c.attrs = append(c.attrs, name, now.Sub(c.last).String())
	c.last = now
}

// seenBefore adds how the change reached the reload starting at start: from
// the first event of the folder's change to the end of the watcher's scan,
// and from there to start (both unknown for other sources, or a poll).
func (c *stageClock) seenBefore(src Source, fp string, start time.Time) {
	d, ok := src.(*dirSource)
	if c == nil || !ok {
		return
	}
	event, scanned := d.seen(fp)
	if scanned.IsZero() {
		return
	}
	if !event.IsZero() {
		c.attrs = append(c.attrs, "event_to_scanned", scanned.Sub(event).String())
	}
	c.attrs = append(c.attrs, "scanned_to_reload", start.Sub(scanned).String())
}
