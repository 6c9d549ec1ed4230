package fileversion

import (
	"io/fs"
	"syscall"
	"time"
)

// ID identifies a version of a file by its status.
type ID struct {
	dev, ino, size uint64
	mtime, ctime   int64 // ns
}

// Changed is when the file last changed: its content or its status.
func (f ID) Changed() time.Time { return time.Unix(0, max(f.mtime, f.ctime)) }

// Of returns the version of the regular file fi describes; false for other
// files and where the status does not say.
func Of(fi fs.FileInfo) (ID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return ID{}, false
	}
	return ID{dev: uint64(st.Dev), ino: st.Ino, size: uint64(st.Size),
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, true
}
