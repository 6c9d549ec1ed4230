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
	failing := initial == ""
	h := NewHasher()
	scan := func() (string, bool) {
		fp, err := h.Fingerprint(dir)
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
		case <-n.events():
			// Drain what else is queued, then wait for quiet.
			for drained := false; !drained; {
				select {
				case <-n.events():
				default:
					drained = true
				}
			}
			quiet.Reset(Quiet)
			continue
		case <-n.errors():
			continue // an overflow or a watch lost: the poll covers it
		case <-quiet.C:
			n.sync()
			fp, ok := scan()
			if !ok {
				continue
			}
			if len(n.events()) > 0 {
				// The directory changed while it was read: the scan
				// may mix old and new files. Wait for quiet again.
				quiet.Reset(Quiet)
				continue
			}
			if fp != last {
				last, pending = fp, ""
				onChange(fp)
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
			onChange(fp)
		default:
			pending = fp
		}
	}
}
