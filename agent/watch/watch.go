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

// DefaultInterval is how often the directory is polled. A change is reported
// after it has been stable for one interval, so within two intervals.
const DefaultInterval = 250 * time.Millisecond

// Fingerprint hashes the names and contents of the regular files under dir,
// skipping hidden files and editor backups (`.x`, `x~`, `#x#`). Polling a
// content hash catches every kind of edit (rename over, in-place write,
// symlink flip as ConfigMaps do) without relying on inotify semantics.
func Fingerprint(dir string) (string, error) {
	h := sha256.New()
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
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue // removed while scanning; the next poll sees it
			}
			if st, serr := os.Stat(p); serr == nil && st.IsDir() {
				continue // a symlink to a directory
			}
			return "", fmt.Errorf("reading %s: %w", p, err)
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		(strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"))
}

// Watch calls onChange with the new fingerprint each time the contents of dir
// differ from those last reported and have stayed the same for one interval.
// The first call reports nothing: callers load the directory once themselves
// and pass that fingerprint as initial ("" when that scan failed). Scan
// failures are reported once per change of state, not on every poll:
// onError gets the error when scanning starts failing and nil when it works
// again; polling continues meanwhile. Watch returns when ctx ends.
func Watch(ctx context.Context, dir string, interval time.Duration, initial string,
	onChange func(fingerprint string), onError func(error)) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if onError == nil {
		onError = func(error) {}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	last, pending := initial, ""
	failing := initial == ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp, err := Fingerprint(dir)
		if err != nil {
			if !failing {
				failing = true
				onError(err)
			}
			continue
		}
		if failing {
			failing = false
			onError(nil)
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
