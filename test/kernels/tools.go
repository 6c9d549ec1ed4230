package kernels

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// HostFile is a host file copied into the initramfs at the same path.
type HostFile struct {
	Path string
	Perm uint32
}

// HostTools resolves host programs (e.g. ip and curl, which test/netns runs) and the shared
// libraries ldd lists for them, so the guest can run them. Programs not on PATH are
// reported in missing and left out: the tests that need them fail in the guest and say so.
func HostTools(names []string) (files []HostFile, missing []string, err error) {
	seen := map[string]bool{}
	add := func(path string, perm uint32) {
		if !seen[path] {
			seen[path] = true
			files = append(files, HostFile{Path: path, Perm: perm})
		}
	}
	for _, name := range names {
		path, lerr := exec.LookPath(name)
		if lerr != nil {
			missing = append(missing, name)
			continue
		}
		if path, err = filepath.Abs(path); err != nil {
			return nil, nil, err
		}
		add(path, 0o755)
		libs, err := sharedLibs(path)
		if err != nil {
			return nil, nil, err
		}
		for _, l := range libs {
			add(l, 0o755)
		}
	}
	return files, missing, nil
}

// sharedLibs lists the absolute library paths (and the ELF interpreter) ldd prints.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		// Static binaries make ldd exit non-zero with "not a dynamic executable".
		if bytes.Contains(out, []byte("not a dynamic")) {
			return nil, nil
		}
		if _, serr := os.Stat(bin); serr == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}
