package source

import (
	"bytes"
	"fmt"
	"os"
	"sync"
)

// Cache keeps what reading each YAML file of a policy directory produced
// (decoded objects, problems), so a reload decodes only the files whose
// bytes changed: decoding is most of a load's cost on a folder of a
// thousand policies. Checks across files (names defined twice, pod IPs,
// Rego references) run on every load. A Cache is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	files map[string]*cachedFile
	seen  map[string]bool // files of the load in progress
	dir   string          // directory of the load in progress
	// read holds each file's bytes with the identity of the version read
	// (statcache.go): an unchanged file is not read again.
	read map[string]readFile
	// given holds the files of the load in progress already read by the
	// caller (LoadFiles).
	given map[string][]byte
}

type cachedFile struct {
	data    []byte
	actions []func(*loader)
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{files: map[string]*cachedFile{}, read: map[string]readFile{}}
}

// Load is the package's Load, reusing the decoding of unchanged files. The
// policies of the Set share their maps and slices with the cache (and with
// the Sets of earlier loads): callers must not modify them; copy one
// (DeepCopy) to change it.
func (c *Cache) Load(dir string, extras ...Extra) (*Set, Problems, error) {
	return c.LoadFiles(dir, nil, extras...)
}

// LoadFiles is Load with some files of dir already read: files maps their
// slash-separated paths relative to dir to their bytes (a folder watcher
// reads each changed file to fingerprint the directory), and those bytes
// are taken instead of reading the file again. Files of dir not in it are
// read (or taken from the cache); names in it that dir does not hold are
// ignored.
func (c *Cache) LoadFiles(dir string, files map[string][]byte, extras ...Extra) (*Set, Problems, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("reading policy directory: %w", err)
	} else if !fi.IsDir() {
		return nil, nil, fmt.Errorf("reading policy directory: %s is not a directory", dir)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = map[string]bool{}
	c.dir, c.given = dir, files
	defer func() { c.dir, c.given = "", nil }()
	return loadFS(os.DirFS(dir), c, extras)
}

// yamlFile replays the file's recorded reading if its bytes are the same,
// else reads it and records that.
func (c *Cache) yamlFile(l *loader, name string, data []byte) {
	c.seen[name] = true
	if f, ok := c.files[name]; ok && bytes.Equal(f.data, data) {
		for _, a := range f.actions {
			a(l)
		}
		return
	}
	f := &cachedFile{data: bytes.Clone(data)}
	l.rec = &f.actions
	l.yamlFile(name, data)
	l.rec = nil
	c.files[name] = f
}

// prune forgets the files the last load did not see.
func (c *Cache) prune() {
	for name := range c.files {
		if !c.seen[name] {
			delete(c.files, name)
		}
	}
	for name := range c.read {
		if !c.seen[name] {
			delete(c.read, name)
		}
	}
}
