package kernels

import (
	"fmt"
	"io"
	"strings"
)

// cpioWriter writes a "newc" (SVR4, no CRC) cpio archive, the format the kernel unpacks
// as an initramfs. Entries must be added parents first.
type cpioWriter struct {
	w     io.Writer
	n     int64 // bytes written, for the 4-byte alignment the format needs
	inode uint32
	dirs  map[string]bool // directories written, so parents are written once and first
	err   error
}

const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

func newCpioWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, inode: 1, dirs: map[string]bool{}}
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one header, name and body. devMajor/devMinor are for device nodes only.
func (c *cpioWriter) entry(name string, mode uint32, body []byte, devMajor, devMinor uint32) {
	name = strings.TrimPrefix(name, "/")
	nlink := uint32(1)
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.inode, mode, 0, 0, nlink, 0, len(body), 0, 0, devMajor, devMinor, len(name)+1, 0)
	c.inode++
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(body)
	c.pad()
}

// Dir adds a directory and any missing parents.
func (c *cpioWriter) Dir(name string) {
	name = strings.Trim(name, "/")
	if name == "" || name == "." || c.dirs[name] {
		return
	}
	c.parents(name)
	c.dirs[name] = true
	c.entry(name, modeDir|0o755, nil, 0, 0)
}

func (c *cpioWriter) parents(name string) {
	name = strings.Trim(name, "/")
	if i := strings.LastIndex(name, "/"); i > 0 {
		c.Dir(name[:i])
	}
}

// File adds a regular file with the given permission bits, and missing parents.
func (c *cpioWriter) File(name string, perm uint32, body []byte) {
	c.parents(name)
	c.entry(name, modeFile|perm, body, 0, 0)
}

// Symlink adds a symbolic link name -> target, and missing parents.
func (c *cpioWriter) Symlink(name, target string) {
	c.parents(name)
	c.entry(name, modeSymlink|0o777, []byte(target), 0, 0)
}

// CharDev adds a character device node, and missing parents.
func (c *cpioWriter) CharDev(name string, major, minor uint32) {
	c.parents(name)
	c.entry(name, modeCharDev|0o600, nil, major, minor)
}

// Close writes the trailer and reports the first write error.
func (c *cpioWriter) Close() error {
	c.entry("TRAILER!!!", 0, nil, 0, 0)
	return c.err
}
