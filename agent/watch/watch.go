package watch

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultInterval is how often the directory is polled as a safety net
// behind inotify (a missed event, a filesystem without inotify): a change
// it finds is reported once it has been stable for one interval.
const DefaultInterval = 2 * time.Second

// fallbackInterval is the poll interval when inotify cannot be used.
const fallbackInterval = 250 * time.Millisecond

// Quiet is how long the directory must be free of inotify events before a
// change is read and reported: writes of several files in a row (an editor,
// a ConfigMap update, a script) make one report. A kubelet ConfigMap update
// is one rename of ..data; its events come within a millisecond.
const Quiet = 10 * time.Millisecond

// scannedHook, when set (tests), is called after each scan that follows a
// burst of events, with whether the directory was read (false: the status
// of the files told it unchanged), before the check for events during it.
var scannedHook func(read bool)

// Change is a change of the directory Watch reports.
type Change struct {
	Fingerprint string
	// Event is when the first inotify event of the burst that led to the
	// change arrived; zero when the poll found the change.
	Event time.Time
	// Scanned is when the scan that found the change ended.
	Scanned time.Time
	// Files holds the bytes of the files the scan read because their
	// status changed since the last scan (slash-separated paths relative
	// to the directory): what the fingerprint was computed from, so that
	// the reader of the change need not read them again. Files the scan
	// knew unchanged are not in it.
	Files map[string][]byte
}

// Watch calls onChange with the new fingerprint each time the contents of dir
// differ from those last reported. Changes are seen through inotify on dir
// and its subdirectories and reported once no event came for Quiet; a poll
// every interval catches anything inotify missed (reported once stable for
// one interval), and replaces inotify where it cannot be used. The first
// call reports nothing: callers load the directory once themselves and pass
// that fingerprint as initial ("" when that scan failed). Scan failures are
// reported once per change of state, not on every poll: onError gets the
// error when scanning starts failing and nil when it works again; polling
// continues meanwhile. Watch returns when ctx ends.
func Watch(ctx context.Context, dir string, interval time.Duration, initial string,
	onChange func(fingerprint string), onError func(error)) {
	WatchChanges(ctx, dir, interval, initial, func(c Change) { onChange(c.Fingerprint) }, onError)
}

// WatchChanges is Watch reporting each change with when it was seen.
func WatchChanges(ctx context.Context, dir string, interval time.Duration, initial string,
	onChange func(Change), onError func(error)) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if onError == nil {
		onError = func(error) {}
	}
	n := newNotifier(dir)
	defer n.close()
	if n.w == nil {
		interval = min(interval, fallbackInterval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	// A change made after initial was taken and before the notifier
	// watched is seen by a first scan, as after an event, not only by the
	// poll (which may be an hour away): the watch starts waiting for quiet.
	quiet := time.NewTimer(Quiet)
	defer quiet.Stop()
	last, pending := initial, ""
	var firstEvent time.Time // of the burst being waited out
	waiting := true          // for quiet
	// full: the burst had a significant event, so the directory is read;
	// otherwise the status of the files the last scan hashed tells whether
	// it changed, and it is read only if it did.
	full := true
	var taken, takenSignificant uint64 // events taken from n.events()
	failing := initial == ""
	h := NewHasher()
	var read map[string][]byte // by the last scan
	scan := func() (string, bool) {
		h.read = map[string][]byte{}
		fp, err := h.Fingerprint(dir)
		read, h.read = h.read, nil
		if err != nil {
			if !failing {
				failing = true
				onError(err)
			}
			return "", false
		}
		if failing {
			failing = false
			onError(nil)
		}
		return fp, true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-n.events():
			extend := false
			take := func(ev fsnotify.Event) {
				extend = extend || !ignored(filepath.Base(ev.Name))
				taken++
				if significant(ev) {
					takenSignificant++
					full = true
				}
			}
			take(ev)
			// Drain what else is queued, then wait for quiet.
			for drained := false; !drained; {
				select {
				case ev := <-n.events():
					take(ev)
				default:
					drained = true
				}
			}
			// Events on hidden names start the wait but do not extend
			// it: after a ConfigMap update's rename of ..data the kubelet
			// removes the old version folder, which must not hold the
			// new version back. Nothing is missed: what happens after
			// the scan is seen by the next one.
			if firstEvent.IsZero() {
				firstEvent = time.Now()
			}
			if waiting && !extend {
				continue
			}
			waiting = true
			quiet.Reset(Quiet)
			continue
		case <-n.errors():
			continue // an overflow or a watch lost: the poll covers it
		case <-quiet.C:
			waiting = false
			n.sync()
			fp, ok := "", false
			if !full {
				fp, ok = h.unchanged(dir)
				read = nil
			}
			didRead := !ok
			if didRead {
				if fp, ok = scan(); !ok {
					continue
				}
			}
			if scannedHook != nil {
				scannedHook(didRead)
			}
			if n.sentSignificant.Load() != takenSignificant ||
				n.sent.Load() != taken && !h.still(fp, dir) {
				// Events came while the directory was read (counted as
				// they came) or wait in n.events(), and the scan may mix
				// old and new files: significant ones, or hidden names
				// made or removed that changed what the files are. Wait
				// for quiet again.
				full = true
				waiting = true
				quiet.Reset(Quiet)
				continue
			}
			full = false
			ev := firstEvent
			firstEvent = time.Time{}
			if fp != last {
				last, pending = fp, ""
				onChange(Change{Fingerprint: fp, Event: ev, Scanned: time.Now(), Files: relative(dir, read)})
			}
			continue
		case <-t.C:
		}
		n.sync()
		fp, ok := scan()
		if !ok {
			continue
		}
		switch {
		case fp == last:
			pending = ""
		case fp == pending:
			last, pending = fp, ""
			// The files were read in this scan or the one before (as
			// pending): those of this scan only are handed on.
			onChange(Change{Fingerprint: fp, Scanned: time.Now(), Files: relative(dir, read)})
		default:
			pending = fp
		}
	}
}

// relative keys read by slash-separated paths relative to dir.
func relative(dir string, read map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(read))
	for p, b := range read {
		if rel, err := filepath.Rel(dir, p); err == nil {
			out[filepath.ToSlash(rel)] = b
		}
	}
	return out
}
