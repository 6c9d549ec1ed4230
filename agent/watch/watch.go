package watch

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
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

// Fingerprint hashes the names and contents of the regular files under dir,
// skipping hidden files and editor backups (`.x`, `x~`, `#x#`). Polling a
// content hash catches every kind of edit (rename over, in-place write,
// symlink flip as ConfigMaps do) without relying on inotify semantics.
func Fingerprint(dir string) (string, error) { return (&Hasher{}).Fingerprint(dir) }

// Fingerprint is the package's Fingerprint; a Hasher from NewHasher takes
// the digest of a file whose status is that of the version it last hashed
// from memory instead of reading the file again.
func (h *Hasher) Fingerprint(dir string) (string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != dir && ignored(name) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("scanning policy directory: %w", err)
	}
	sort.Strings(paths)
	all := sha256.New()
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		size, sum, err := h.file(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue // removed while scanning; the next poll sees it
			}
			if st, serr := os.Stat(p); serr == nil && st.IsDir() {
				continue // a symlink to a directory
			}
			return "", fmt.Errorf("reading %s: %w", p, err)
		}
		seen[p] = true
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(all, "%s\x00%d\x00", rel, size)
		all.Write(sum[:])
	}
	h.prune(seen)
	return fmt.Sprintf("%x", all.Sum(nil)), nil
}

func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		(strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"))
}

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
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	last, pending := initial, ""
	var firstEvent time.Time // of the burst being waited out
	waiting := false         // for quiet
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
			extend := !ignored(filepath.Base(ev.Name))
			// Drain what else is queued, then wait for quiet.
			for drained := false; !drained; {
				select {
				case ev := <-n.events():
					extend = extend || !ignored(filepath.Base(ev.Name))
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
			fp, ok := scan()
			if !ok {
				continue
			}
			if len(n.events()) > 0 {
				// The directory changed while it was read: the scan
				// may mix old and new files. Wait for quiet again.
				waiting = true
				quiet.Reset(Quiet)
				continue
			}
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
