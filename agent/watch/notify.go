package watch

import (
	"io/fs"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// notifier watches a directory and its subdirectories with inotify. Its w
// is nil when inotify is not available; Watch then only polls.
type notifier struct {
	dir     string
	w       *fsnotify.Watcher
	watched map[string]bool
}

func newNotifier(dir string) *notifier {
	n := &notifier{dir: dir, watched: map[string]bool{}}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return n
	}
	n.w = w
	n.sync()
	return n
}

// sync adds a watch on every directory under dir not watched yet (new
// subdirectories, or dir itself after it was removed and recreated) and
// forgets those that are gone.
func (n *notifier) sync() {
	if n.w == nil {
		return
	}
	seen := map[string]bool{}
	_ = filepath.WalkDir(n.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != n.dir && ignored(d.Name()) {
			return filepath.SkipDir
		}
		seen[p] = true
		return nil
	})
	for p := range n.watched {
		if !seen[p] {
			_ = n.w.Remove(p)
			delete(n.watched, p)
		}
	}
	for p := range seen {
		if !n.watched[p] && n.w.Add(p) == nil {
			n.watched[p] = true
		}
	}
}

func (n *notifier) events() <-chan fsnotify.Event {
	if n.w == nil {
		return nil
	}
	return n.w.Events
}

func (n *notifier) errors() <-chan error {
	if n.w == nil {
		return nil
	}
	return n.w.Errors
}

func (n *notifier) close() {
	if n.w != nil {
		_ = n.w.Close()
	}
}
