package watch

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/axon-dev/axon/internal/fileversion"
)

// Fingerprint hashes the names and contents of the regular files under dir,
// skipping hidden files and editor backups (`.x`, `x~`, `#x#`). Polling a
// content hash catches every kind of edit (rename over, in-place write,
// symlink flip as ConfigMaps do) without relying on inotify semantics.
func Fingerprint(dir string) (string, error) { return (&Hasher{}).Fingerprint(dir) }

// Fingerprint is the package's Fingerprint; a Hasher from NewHasher takes
// the digest of a file whose status is that of the version it last hashed
// from memory instead of reading the file again.
func (h *Hasher) Fingerprint(dir string) (string, error) {
	h.lastOK = false
	paths, err := list(dir)
	if err != nil {
		return "", err
	}
	all := sha256.New()
	found := make(map[string]bool, len(paths))
	last := make([]seen, 0, len(paths))
	for _, p := range paths {
		size, sum, id, ok, err := h.file(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				last = append(last, seen{path: p, how: missingAs})
				continue // removed while scanning; the next scan sees it
			}
			if errors.Is(err, errIsDir) {
				last = append(last, seen{path: p, how: dirAs})
				continue // a symlink to a directory
			}
			return "", fmt.Errorf("reading %s: %w", p, err)
		}
		if ok {
			last = append(last, seen{path: p, how: hashedAs, id: id})
		} else {
			last = append(last, seen{path: p, how: opaqueAs})
		}
		found[p] = true
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(all, "%s\x00%d\x00", rel, size)
		all.Write(sum[:])
	}
	h.prune(found)
	fp := fmt.Sprintf("%x", all.Sum(nil))
	h.last, h.lastFP, h.lastOK = last, fp, true
	return fp, nil
}

// unchanged returns the fingerprint of the last scan and true when dir
// still lists the same files and each one still has the status (device,
// inode, size, modification and change times, symlinks followed) of the
// version that scan hashed, or is still missing or a directory: one stat
// per file instead of reading the ones that changed recently. It is what
// the scan would find, except for a file rewritten in place within the
// timestamp tick of the version hashed (same status): such a version was
// not settled, so the next full scan (the poll) reads it again. Watch uses
// it only after hidden names were made, renamed or removed, which rewrites
// no file.
func (h *Hasher) unchanged(dir string) (string, bool) {
	if !h.lastOK {
		return "", false
	}
	paths, err := list(dir)
	if err != nil || len(paths) != len(h.last) {
		return "", false
	}
	for i, p := range paths {
		s := h.last[i]
		if s.path != p {
			return "", false
		}
		st, err := os.Stat(p)
		switch s.how {
		case hashedAs:
			if err != nil {
				return "", false
			}
			if id, ok := fileversion.Of(st); !ok || id != s.id {
				return "", false
			}
		case missingAs:
			if !errors.Is(err, fs.ErrNotExist) {
				return "", false
			}
		case dirAs:
			if err != nil || !st.IsDir() {
				return "", false
			}
		default:
			return "", false
		}
	}
	return h.lastFP, true
}

// still says whether the files hashed for fp, the last scan's fingerprint,
// still have the status they had (unchanged).
func (h *Hasher) still(fp, dir string) bool {
	now, ok := h.unchanged(dir)
	return ok && now == fp
}

// list returns the paths Fingerprint hashes, sorted.
func list(dir string) ([]string, error) {
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
		return nil, fmt.Errorf("scanning policy directory: %w", err)
	}
	sort.Strings(paths)
	return paths, nil
}

func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		(strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"))
}
