package compiler

import (
	"crypto/sha256"

	"github.com/open-policy-agent/opa/v1/ast"
)

// libraryKey identifies what libraryCompiler compiles: the policies' Rego
// modules (with the policies they belong to) and the data modules.
func libraryKey(ps []*policy, env *dataEnv) string {
	h := sha256.New()
	for _, p := range ps {
		if p.module != nil {
			h.Write([]byte(p.key))
			h.Write([]byte{0})
			h.Write([]byte(p.text))
			h.Write([]byte{0})
		}
	}
	h.Write([]byte{1})
	if env != nil {
		h.Write(env.fp)
	}
	return string(h.Sum(nil))
}

// checkLibrary compiles the library with the policies' modules, so that a
// broken module fails before any work, unless the same modules compiled at
// an earlier compilation with c. A compiler it makes is kept for the
// partial evaluations (takeCompiler).
func (c *Cache) checkLibrary(ps []*policy, env *dataEnv) (string, error) {
	key := libraryKey(ps, env)
	if c != nil {
		c.mu.Lock()
		same := c.lib == key
		c.mu.Unlock()
		if same {
			return key, nil
		}
	}
	comp, err := libraryCompiler(ps, env)
	if err != nil {
		return key, err
	}
	c.giveCompiler(key, comp)
	return key, nil
}

// takeCompiler returns a compiler of the library key from the pool, or nil.
func (c *Cache) takeCompiler(key string) *ast.Compiler {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lib != key || len(c.libPool) == 0 {
		return nil
	}
	pc := c.libPool[len(c.libPool)-1]
	c.libPool = c.libPool[:len(c.libPool)-1]
	if c.libUses == nil {
		c.libUses = map[*ast.Compiler]int{}
	}
	c.libUses[pc]++
	return pc
}

// giveCompiler puts comp, a compiler of the library key that compiled and
// that no evaluation is using, in the pool; a pool of another library is
// dropped. A worker reuses its compiler from one partial evaluation to the
// next within a compilation; the pool does the same across compilations.
func (c *Cache) giveCompiler(key string, comp *ast.Compiler) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lib != key {
		c.lib, c.libPool, c.libUses = key, nil, nil
	}
	if len(c.libPool) < maxPooledCompilers && c.libUses[comp] < maxCompilerReuse {
		c.libPool = append(c.libPool, comp)
		return
	}
	delete(c.libUses, comp)
}

// maxPooledCompilers bounds the pool: a compiler holds the whole library.
// maxCompilerReuse bounds the compilations one compiler serves, so that
// whatever evaluations leave in it cannot pile up in a long-running agent.
const (
	maxPooledCompilers = 8
	maxCompilerReuse   = 100
)
