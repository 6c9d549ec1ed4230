package source

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/axon-dev/axon/internal/fileversion"
)

// racyWindow: a file whose status changed less than this before it was
// read may change again within the same timestamp tick (file timestamps are
// coarse) with the same size; it is read again at the next load, as git
// treats "racily clean" index entries.
var racyWindow = 2 * time.Second

// readFile is one file's bytes and the identity of the version read.
type readFile struct {
	id      fileversion.ID
	data    []byte
	settled bool // unchanged for racyWindow when read
}

// readFile reads name of the load in progress, or returns the bytes read at
// an earlier load when its status (device, inode, size, modification and
// change times, following symlinks) is the same and was already old then:
// one stat instead of reading a thousand unchanged files per reload. Any
// write changes the change time, which no user can set back.
func (c *Cache) readFile(fsys fs.FS, name string) ([]byte, error) {
	c.seen[name] = true
	if data, ok := c.given[name]; ok {
		// Read by the caller, with no version known: read again at the
		// next load unless given again.
		delete(c.read, name)
		return data, nil
	}
	path := filepath.Join(c.dir, filepath.FromSlash(name))
	st, err := os.Stat(path)
	if err != nil {
		delete(c.read, name)
		return fs.ReadFile(fsys, name)
	}
	id, ok := fileversion.Of(st)
	if prev, had := c.read[name]; ok && had && prev.settled && prev.id == id {
		return prev.data, nil
	}
	now := time.Now()
	data, err := fs.ReadFile(fsys, name)
	if err != nil || !ok {
		delete(c.read, name)
		return data, err
	}
	// Trusted at the next load only if the file had not changed for the
	// racy window when it was read, and did not change while it was.
	if st2, err := os.Stat(path); err == nil {
		if id2, ok2 := fileversion.Of(st2); ok2 && id2 == id {
			c.read[name] = readFile{id: id, data: data, settled: now.Sub(id.Changed()) > racyWindow}
			return data, nil
		}
	}
	delete(c.read, name)
	return data, nil
}
