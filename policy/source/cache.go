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
	if fi, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("reading policy directory: %w", err)
	} else if !fi.IsDir() {
		return nil, nil, fmt.Errorf("reading policy directory: %s is not a directory", dir)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = map[string]bool{}
	c.dir = dir
	defer func() { c.dir = "" }()
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
