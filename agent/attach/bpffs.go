package attach

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultBPFFS is where the kernel's BPF filesystem is normally mounted.
const DefaultBPFFS = "/sys/fs/bpf"

// EnsureBPFFS makes sure dir lies on a BPF filesystem and exists. When dir is
// under /sys/fs/bpf and nothing is mounted there yet, it mounts bpffs.
func EnsureBPFFS(dir string) error {
	dir = filepath.Clean(dir)
	if !onBPFFS(dir) {
		if dir != DefaultBPFFS && !strings.HasPrefix(dir, DefaultBPFFS+"/") {
			return fmt.Errorf("pin directory %s is not on a bpf filesystem", dir)
		}
		if err := unix.Mount("bpf", DefaultBPFFS, "bpf", 0, ""); err != nil {
			return fmt.Errorf("mounting bpffs on %s: %w", DefaultBPFFS, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating pin directory: %w", err)
	}
	return nil
}

// onBPFFS reports whether the nearest existing ancestor of dir is on bpffs.
func onBPFFS(dir string) bool {
	for p := dir; ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err == nil {
			return st.Type == unix.BPF_FS_MAGIC
		}
		if p == "/" {
			return false
		}
	}
}
