package watch

import (
	"io/fs"
	"syscall"
	"time"
)

// fileID identifies a version of a file by its status.
type fileID struct {
	dev, ino, size uint64
	mtime, ctime   int64 // ns
}

func (f fileID) changed() time.Time { return time.Unix(0, max(f.mtime, f.ctime)) }

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: uint64(st.Size),
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, true
}
