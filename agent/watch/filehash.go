package watch

import (
	"crypto/sha256"
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
}

type hashed struct {
	id      fileversion.ID
	size    int
	sum     [sha256.Size]byte
	settled bool // unchanged for racyWindow when hashed
}

// NewHasher returns a Hasher that remembers what it hashed.
func NewHasher() *Hasher { return &Hasher{files: map[string]hashed{}} }

// file returns the size and digest of the file at p (following symlinks).
func (h *Hasher) file(p string) (int, [sha256.Size]byte, error) {
	var id fileversion.ID
	ok := false
	if h.files != nil {
		if st, err := os.Stat(p); err == nil {
			id, ok = fileversion.Of(st)
		}
		if prev, had := h.files[p]; ok && had && prev.settled && prev.id == id {
			return prev.size, prev.sum, nil
		}
	}
	now := time.Now()
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, [sha256.Size]byte{}, err
	}
	sum := sha256.Sum256(b)
	if h.read != nil {
		h.read[p] = b
	}
	if ok {
		// Remembered only if it did not change while it was read.
		if st, err := os.Stat(p); err == nil {
			if id2, ok2 := fileversion.Of(st); ok2 && id2 == id {
				h.files[p] = hashed{id: id, size: len(b), sum: sum, settled: now.Sub(id.Changed()) > racyWindow}
				return len(b), sum, nil
			}
		}
		delete(h.files, p)
	}
	return len(b), sum, nil
}

// prune forgets the files not seen by the last scan.
func (h *Hasher) prune(seen map[string]bool) {
	for p := range h.files {
		if !seen[p] {
			delete(h.files, p)
		}
	}
}
