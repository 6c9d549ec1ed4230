package datapath

import (
	"fmt"
	"hash/fnv"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
)

// pathPlan is a table's path rows as the paths and globs maps take them:
// merged (mergeRows), in key order, with the ID of every glob they name.
type pathPlan struct {
	rows    []table.PathRow
	globIDs map[string]uint32     // glob content -> ID
	globs   map[string]table.Glob // glob content -> glob
}

// globContent is what identifies a glob entry: pattern, rule, action, mode.
func globContent(gl table.Glob) string {
	return fmt.Sprintf("%s\x00%d\x00%d\x00%d", gl.Pattern, gl.Rule, gl.Action, gl.Mode)
}

// planPaths merges t's rows, checks them against the datapath's bounds and
// assigns the glob IDs.
func planPaths(t *table.Table) (*pathPlan, error) {
	p := &pathPlan{rows: mergeRows(t.Paths), globIDs: map[string]uint32{}, globs: map[string]table.Glob{}}
	used := map[uint32]bool{}
	for _, r := range p.rows {
		if len(r.Prefix) > table.MaxPathKey {
			return nil, fmt.Errorf("%w: path prefix of %d bytes (at most %d)", ErrTableTooLarge, len(r.Prefix), table.MaxPathKey)
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
	return p, nil
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
	v := bpf.AxonAxPathVal{
		Enforce: bpf.AxonAxMatch{Deny: uint32(r.Enforce.Deny), Allow: uint32(r.Enforce.Allow)},
		Audit:   bpf.AxonAxMatch{Deny: uint32(r.Audit.Deny), Allow: uint32(r.Audit.Allow)},
		Nglobs:  uint32(len(r.Globs)),
	}
	for i, gl := range r.Globs {
		v.Globs[i] = p.globIDs[globContent(gl)]
	}
	return k, v
}

// put adds row r's entry to g.
func (p *pathPlan) put(g generation, gen uint8, r *table.PathRow) {
	k, v := p.pathEntry(gen, r)
	put(g, bpf.AxonMapPaths, k, v)
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
