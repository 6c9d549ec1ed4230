package watch

import (
	"io/fs"
	"path/filepath"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
)

// notifier watches a directory and its subdirectories with inotify. Its w
// is nil when inotify is not available; Watch then only polls.
type notifier struct {
	dir     string
	w       *fsnotify.Watcher
	watched map[string]bool
	// ev has the watcher's events, forwarded by a goroutine that counts
	// them as they come, even while Watch is scanning: all of them in
	// sent, the significant ones (see significant) in sentSignificant.
	// fsnotify's own channel is unbuffered: nothing there says an event
	// came during a scan.
	ev              chan fsnotify.Event
	sent            atomic.Uint64
	sentSignificant atomic.Uint64
	done            chan struct{}
}

func newNotifier(dir string) *notifier {
	n := &notifier{dir: dir, watched: map[string]bool{}}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return n
	}
	n.w = w
	n.ev = make(chan fsnotify.Event, 256)
	n.done = make(chan struct{})
	go n.forward()
	n.sync()
	return n
}

// forward hands the watcher's events on to ev, counting the significant
// ones first.
func (n *notifier) forward() {
	for {
		select {
		case ev, ok := <-n.w.Events:
			if !ok {
				return
			}
			if significant(ev) {
				n.sentSignificant.Add(1)
			}
			n.sent.Add(1)
			select {
			case n.ev <- ev:
			case <-n.done:
				return
			}
		case <-n.done:
			return
		}
	}
}

// significant is false for the creation, removal or rename of a hidden
// name, such as a kubelet ConfigMap update makes: it makes the new version
// folder, switches ..data to it by a rename, and removes the old folder.
// None of these rewrites a file, so whether they changed what the visible
// names lead to is told by the status of the files (Hasher.unchanged):
// another inode, a file gone or come. Writes and attribute changes are
// significant, and every event on a visible name.
func significant(ev fsnotify.Event) bool {
	renaming := ev.Op != 0 && ev.Op&^(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) == 0
	return !renaming || !ignored(filepath.Base(ev.Name))
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

func (n *notifier) events() <-chan fsnotify.Event { return n.ev }

func (n *notifier) errors() <-chan error {
	if n.w == nil {
		return nil
	}
	return n.w.Errors
}

func (n *notifier) close() {
	if n.w != nil {
		close(n.done)
		_ = n.w.Close()
	}
}
