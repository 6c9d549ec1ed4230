package datapath

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
)

// pathPlan is a table's path rows as the paths, path_hash, path_lens and
// globs maps take them: merged (mergeRows), in key order, with the ID of
// every glob they name and the tries that are hashed.
type pathPlan struct {
	rows    []table.PathRow
	globIDs map[string]uint32     // glob content -> ID
	globs   map[string]table.Glob // glob content -> glob
	// hashed marks the rows that are also in path_hash; tries are the
	// path_lens entries of their tries.
	hashed []bool
	tries  []hashedTrie
}

// hashedTrie is a trie in path_hash: its first row and its path_lens value.
type hashedTrie struct {
	first int
	lens  bpf.AxonAxPathLens
}

// Bounds of a hashed trie (policy_maps.h rule 6).
var (
	maxTrieLens = len(bpf.AxonAxPathLens{}.Len)
	hashPathKey = len(bpf.AxonAxPathHkey{}.Path)
)

// globContent is what identifies a glob entry: pattern, rule, action, mode.
func globContent(gl table.Glob) string {
	return fmt.Sprintf("%s\x00%d\x00%d\x00%d", gl.Pattern, gl.Rule, gl.Action, gl.Mode)
}

// planPaths merges t's rows, checks them against the datapath's bounds,
// assigns the glob IDs and picks the tries for path_hash: those with at
// most trieLens prefix lengths (at most maxTrieLens).
func planPaths(t *table.Table, trieLens int) (*pathPlan, error) {
	p := &pathPlan{rows: mergeRows(t.Paths), globIDs: map[string]uint32{}, globs: map[string]table.Glob{}}
	used := map[uint32]bool{}
	for _, r := range p.rows {
		if len(r.Prefix) > table.MaxPathKey {
			return nil, fmt.Errorf("%w: path prefix of %d bytes (at most %d)", ErrTableTooLarge, len(r.Prefix), table.MaxPathKey)
		}
		// The kernel's path keys are zero-padded: a NUL inside a row's
		// prefix (an exact row ends in one) would make it a shorter row.
		if i := strings.IndexByte(r.Prefix, 0); i >= 0 && i != len(r.Prefix)-1 {
			return nil, fmt.Errorf("path row %q has a NUL byte at offset %d: no request path has one", r.Prefix, i)
		}
		if len(r.Globs) > maxRowGlobs {
			return nil, fmt.Errorf("%w: %d glob candidates on one path row (at most %d)", ErrTableTooLarge, len(r.Globs), maxRowGlobs)
		}
		for _, gl := range r.Globs {
			content := globContent(gl)
			if _, ok := p.globIDs[content]; ok {
				continue
			}
			// A content hash keeps IDs stable across tables, so that
			// unchanged globs and the rows naming them are not rewritten.
			h := fnv.New32a()
			h.Write([]byte(content))
			id := h.Sum32()
			for used[id] {
				id++
			}
			used[id] = true
			p.globIDs[content] = id
			p.globs[content] = gl
		}
	}
	p.hashed = make([]bool, len(p.rows))
	p.hashTries(min(trieLens, maxTrieLens))
	return p, nil
}

// sameTrie says whether two rows are of one trie (method, class, endpoint).
func sameTrie(a, b *table.PathRow) bool {
	return a.Endpoint == b.Endpoint && a.Class == b.Class && a.Method == b.Method
}

// hashTries marks the rows of every trie with at most maxLens distinct
// prefix lengths, none longer than hashPathKey, for path_hash, and notes
// the lengths of each, longest first.
func (p *pathPlan) hashTries(maxLens int) {
	var lens []int
	for i := 0; i < len(p.rows); {
		j := i + 1
		for j < len(p.rows) && sameTrie(&p.rows[i], &p.rows[j]) {
			j++
		}
		lens = lens[:0]
		fits := true
		for x := i; x < j && fits; x++ {
			n := len(p.rows[x].Prefix)
			switch {
			case n > hashPathKey:
				fits = false
			case !slices.Contains(lens, n):
				lens = append(lens, n)
				fits = len(lens) <= maxLens
			}
		}
		if fits {
			slices.Sort(lens)
			tr := hashedTrie{first: i}
			tr.lens.N = uint32(len(lens))
			for k, n := range lens {
				tr.lens.Len[len(lens)-1-k] = uint8(n)
			}
			p.tries = append(p.tries, tr)
			for x := i; x < j; x++ {
				p.hashed[x] = true
			}
		}
		i = j
	}
}

// trieKey is the path_lens key of row r's trie in generation gen.
func trieKey(gen uint8, r *table.PathRow) bpf.AxonAxTrieKey {
	return bpf.AxonAxTrieKey{Gen: gen, Method: r.Method, Class: r.Class, Endpoint: r.Endpoint}
}

// putTries adds the path_lens entries to g.
func (p *pathPlan) putTries(g generation, gen uint8) {
	for _, tr := range p.tries {
		put(g, bpf.AxonMapPathLens, trieKey(gen, &p.rows[tr.first]), tr.lens)
	}
}

// pathEntry is the paths map entry of row r in generation gen.
func (p *pathPlan) pathEntry(gen uint8, r *table.PathRow) (bpf.AxonAxPathKey, bpf.AxonAxPathVal) {
	k := bpf.AxonAxPathKey{
		Prefixlen: uint32(pathFixedBits + 8*len(r.Prefix)),
		Gen:       gen,
		Method:    r.Method,
		Class:     r.Class,
		Endpoint:  r.Endpoint,
	}
	copy(k.Path[:], r.Prefix)
	return k, p.rowValue(r)
}

// hashEntry is the path_hash entry of row r (of a hashed trie) in
// generation gen.
func (p *pathPlan) hashEntry(gen uint8, r *table.PathRow) (bpf.AxonAxPathHkey, bpf.AxonAxPathVal) {
	k := bpf.AxonAxPathHkey{Trie: trieKey(gen, r), Len: uint32(len(r.Prefix))}
	copy(k.Path[:], r.Prefix)
	return k, p.rowValue(r)
}

// rowValue is the value of row r in paths and path_hash.
func (p *pathPlan) rowValue(r *table.PathRow) bpf.AxonAxPathVal {
	v := bpf.AxonAxPathVal{
		Enforce: bpf.AxonAxMatch{Deny: uint32(r.Enforce.Deny), Allow: uint32(r.Enforce.Allow)},
		Audit:   bpf.AxonAxMatch{Deny: uint32(r.Audit.Deny), Allow: uint32(r.Audit.Allow)},
		Nglobs:  uint32(len(r.Globs)),
	}
	for i, gl := range r.Globs {
		v.Globs[i] = p.globIDs[globContent(gl)]
	}
	return v
}

// putRows adds the entries of every row, the path_hash ones included, and
// the path_lens entries to g.
func (p *pathPlan) putRows(g generation, gen uint8) {
	for i := range p.rows {
		r := &p.rows[i]
		k, v := p.pathEntry(gen, r)
		put(g, bpf.AxonMapPaths, k, v)
		if p.hashed[i] {
			hk, hv := p.hashEntry(gen, r)
			put(g, bpf.AxonMapPathHash, hk, hv)
		}
	}
	p.putTries(g, gen)
}

// putGlobs adds the glob entries to g.
func (p *pathPlan) putGlobs(g generation, gen uint8) error {
	for content, gl := range p.globs {
		cg, err := compileGlob(gl.Pattern)
		if err != nil {
			return err
		}
		cg.Rule = uint32(gl.Rule)
		cg.Action = uint8(gl.Action)
		cg.Mode = uint8(gl.Mode)
		put(g, bpf.AxonMapGlobs, bpf.AxonAxGlobKey{Gen: gen, Id: p.globIDs[content]}, cg)
	}
	return nil
}
