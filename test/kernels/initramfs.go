package kernels

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// WriteInitramfs writes an uncompressed cpio initramfs holding the guest init, the kernel's
// modules (loaded in lexical order), the test binaries with their testdata, and the
// arguments passed to every test binary.
func WriteInitramfs(out, initBin, modulesDir string, bins []TestBinary, testArgs []string, tools []HostFile) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("creating initramfs: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	c := newCpioWriter(bw)
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "modules", "tests"} {
		c.Dir(d)
	}
	// The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
	c.CharDev("dev/console", 5, 1)

	if err := addFile(c, "init", initBin, 0o755); err != nil {
		return err
	}
	mods, _ := filepath.Glob(filepath.Join(modulesDir, "*.ko"))
	sort.Strings(mods)
	for _, m := range mods {
		if err := addFile(c, "modules/"+filepath.Base(m), m, 0o644); err != nil {
			return err
		}
	}
	for _, b := range bins {
		if err := addFile(c, "tests/"+b.Name+".test", b.Path, 0o755); err != nil {
			return err
		}
		if b.Testdata {
			if err := addTree(c, filepath.Join(b.Dir, "testdata"), "tests/"+b.Name+".test.dir/testdata"); err != nil {
				return err
			}
		}
	}
	for _, t := range tools {
		if err := addFile(c, t.Path, t.Path, t.Perm); err != nil {
			return err
		}
	}
	if len(tools) > 0 {
		// A user database for host programs that look users up (nginx's
		// getpwnam of its worker user); glibc reads the files without
		// an nsswitch.conf.
		c.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"))
		c.File("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	}
	c.File("tests/args", 0o644, []byte(strings.Join(testArgs, "\n")+"\n"))
	if err := c.Close(); err != nil {
		f.Close()
		return fmt.Errorf("writing initramfs: %w", err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing initramfs: %w", err)
	}
	return f.Close()
}

func addFile(c *cpioWriter, name, src string, perm uint32) error {
	body, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("adding %s to initramfs: %w", name, err)
	}
	c.File(name, perm, body)
	return nil
}

// addTree copies a directory tree (regular files and directories) to dst.
func addTree(c *cpioWriter, src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		name := filepath.ToSlash(filepath.Join(dst, rel))
		switch {
		case d.IsDir():
			c.Dir(name)
		case d.Type().IsRegular():
			return addFile(c, name, path, 0o644)
		}
		return nil
	})
}
