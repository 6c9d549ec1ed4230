package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// Cache keeps the partial evaluation of each policy between compilations,
// keyed by the policy's content (and the namespaces' labels, and for Rego
// policies the destination), so that recompiling after a change evaluates
// only the changed policies. Safe for use by one Compile at a time.
type Cache struct {
	mu   sync.Mutex
	m    map[string][]*conj
	used map[string][]*conj
}

// NewCache returns an empty cache for WithCache.
func NewCache() *Cache { return &Cache{m: map[string][]*conj{}} }

// WithCache makes Compile reuse and fill c.
func WithCache(c *Cache) Option {
	return func(o *options) { o.cache = c }
}

func cacheKey(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Cache) get(k string) ([]*conj, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if ok {
		c.used[k] = v
	}
	return v, ok
}

func (c *Cache) put(k string, v []*conj) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used[k] = v
}

// begin and end bracket a compilation: entries not used by it are dropped.
func (c *Cache) begin() {
	if c != nil {
		c.used = map[string][]*conj{}
	}
}

func (c *Cache) end() {
	if c != nil {
		c.m, c.used = c.used, nil
	}
}
