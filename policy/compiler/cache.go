package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/axon-dev/axon/policy/table"
	"github.com/open-policy-agent/opa/v1/ast"
)

// Cache keeps, between compilations, each policy as prepared (defaulted,
// validated, encoded: keyed by Input.PolicyVersions), the partial
// evaluation of each policy (keyed by the policy's content, the namespaces'
// labels and for Rego policies the destination), the classes and rows of
// each group of endpoints (keyed by its residual conditions, rules and the
// identities) and the compiled Rego library (keyed by the modules it was
// compiled with), so that recompiling after a change redoes only what the
// change touches. Safe for use by one Compile at a time.
type Cache struct {
	mu         sync.Mutex
	m          map[string][]*conj
	used       map[string][]*conj
	groups     map[string]groupResult
	usedGroups map[string]groupResult
	// prepared are the policies as preparePolicy left them, by namespace/
	// name and version (Input.PolicyVersions); never modified.
	prepared, usedPrepared map[string]*policy
	// lib is the key of the last library that compiled (libraryKey), and
	// compilers of it no partial evaluation is using.
	lib     string
	libPool []*ast.Compiler
	libUses map[*ast.Compiler]int // times taken from the pool
}

// groupResult is what compileGroup computes: source classes and path rows,
// without endpoint IDs.
type groupResult struct {
	classes []table.SourceClass
	rows    []table.PathRow
}

// NewCache returns an empty cache for WithCache.
func NewCache() *Cache {
	return &Cache{m: map[string][]*conj{}, groups: map[string]groupResult{}, prepared: map[string]*policy{}}
}

func (c *Cache) getPolicy(key, version string) (*policy, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key + "\x00" + version
	v, ok := c.prepared[k]
	if ok {
		c.usedPrepared[k] = v
	}
	return v, ok
}

func (c *Cache) putPolicy(key, version string, p *policy) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.usedPrepared[key+"\x00"+version] = p
}

func (c *Cache) getGroup(k string) (groupResult, bool) {
	if c == nil {
		return groupResult{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.groups[k]
	if ok {
		c.usedGroups[k] = v
	}
	return v, ok
}

func (c *Cache) putGroup(k string, v groupResult) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.usedGroups[k] = v
}

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
		c.usedGroups = map[string]groupResult{}
		c.usedPrepared = map[string]*policy{}
	}
}

func (c *Cache) end() {
	if c != nil {
		c.m, c.used = c.used, nil
		c.groups, c.usedGroups = c.usedGroups, nil
		c.prepared, c.usedPrepared = c.usedPrepared, nil
	}
}
