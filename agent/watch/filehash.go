package watch

import (
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"time"

	"github.com/axon-dev/axon/internal/fileversion"
)

// racyWindow: a file whose status changed less than this before it was
// hashed may change again within the same timestamp tick (file timestamps
// are coarse) with the same size; it is read again next time.
var racyWindow = 2 * time.Second

// Hasher computes fingerprints as Fingerprint does. One from NewHasher
// remembers each file's digest with the status of the version hashed, so a
// scan reads only the files that changed: the poll and every inotify burst
// scan the directory, a thousand files each time.
type Hasher struct {
	files map[string]hashed // nil: read every file
	// read, when not nil, collects the bytes of each file the scan read
	// (not those it took from memory), by path.
	read map[string][]byte
	// last is what the last scan found, when it succeeded (lastOK), for
	// unchanged.
	last   []seen
	lastFP string
	lastOK bool
}

type hashed struct {
	id      fileversion.ID
	size    int
	sum     [sha256.Size]byte
	settled bool // unchanged for racyWindow when hashed
}

// seen is one path of a scan and what the scan made of it.
type seen struct {
	path string
	how  seenAs
	id   fileversion.ID // of the version hashed, when how is hashedAs
}

type seenAs uint8

const (
	hashedAs  seenAs = iota // hashed, with the status of the version read
	opaqueAs                // hashed, no status known (not a regular file)
	missingAs               // gone when it was opened
	dirAs                   // a symlink to a directory
)

// errIsDir: the path leads to a directory (a symlink to one).
var errIsDir = errors.New("is a directory")

// NewHasher returns a Hasher that remembers what it hashed.
func NewHasher() *Hasher { return &Hasher{files: map[string]hashed{}} }

// file returns the size and digest of the file at p (following symlinks)
// and the status of the version hashed (ok false when unknown): one stat
// when a version settled at the last scan has that status (the common case:
// a scan of a folder where one file or none changed; opening a file costs
// several syscalls more), else one open, fstat and read. There is no second
// fstat after the read: a
// write during it changes the change time (no user can set it back), so a
// settled entry remembered under the status before the read is never
// matched again, and an entry not settled is read again anyway.
func (h *Hasher) file(p string) (int, [sha256.Size]byte, fileversion.ID, bool, error) {
	var sum [sha256.Size]byte
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		if id, ok := fileversion.Of(st); ok {
			if prev, had := h.files[p]; had && prev.settled && prev.id == id {
				return prev.size, prev.sum, id, true, nil
			}
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, sum, fileversion.ID{}, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, sum, fileversion.ID{}, false, err
	}
	if st.IsDir() {
		return 0, sum, fileversion.ID{}, false, errIsDir
	}
	id, ok := fileversion.Of(st)
	if prev, had := h.files[p]; ok && had && prev.settled && prev.id == id {
		return prev.size, prev.sum, id, true, nil
	}
	now := time.Now()
	b, err := readAll(f, st.Size())
	if err != nil {
		delete(h.files, p)
		return 0, sum, fileversion.ID{}, false, err
	}
	sum = sha256.Sum256(b)
	if h.read != nil {
		h.read[p] = b
	}
	if h.files != nil {
		if ok {
			h.files[p] = hashed{id: id, size: len(b), sum: sum, settled: now.Sub(id.Changed()) > racyWindow}
		} else {
			delete(h.files, p)
		}
	}
	return len(b), sum, id, ok, nil
}

// readAll reads f to its end, size being its size when opened (it may
// have grown since).
func readAll(f *os.File, size int64) ([]byte, error) {
	b := make([]byte, 0, max(size, 0)+1) // +1: EOF without growing
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// prune forgets the files not seen by the last scan.
func (h *Hasher) prune(seen map[string]bool) {
	for p := range h.files {
		if !seen[p] {
			delete(h.files, p)
		}
	}
}
