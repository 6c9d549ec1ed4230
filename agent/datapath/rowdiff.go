package datapath

import (
	"fmt"
	"slices"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
	"github.com/cilium/ebpf"
)

// rowDiff is how the merged path rows of a new table differ from those a
// generation holds in one map, both in key order: rows whose key is gone,
// and rows that are new or whose value changed; oldEntry and newEntry
// encode them as the old and the new plan lay them out in that map.
type rowDiff struct {
	gone, set          []*table.PathRow
	oldEntry, newEntry rowEntry
}

// rowDiffs are the diffs of generation gen's paths and path_hash entries
// (policy_maps.h rule 6) from prev's rows to next's, by map name.
func rowDiffs(prev, next *pathPlan, gen uint8) map[string]*rowDiff {
	paths := diffRows(prev.rows, next.rows, nil, nil)
	paths.oldEntry, paths.newEntry = prev.pathEntries(gen), next.pathEntries(gen)
	hash := diffRows(prev.rows, next.rows, prev.hashed, next.hashed)
	hash.oldEntry, hash.newEntry = prev.hashEntries(gen), next.hashEntries(gen)
	return map[string]*rowDiff{bpf.AxonMapPaths: paths, bpf.AxonMapPathHash: hash}
}

// diffRows compares the old and new merged rows (mergeRows: sorted, one per
// key) that inOld and inNew mark (nil: all of them).
func diffRows(old, new []table.PathRow, inOld, inNew []bool) *rowDiff {
	next := func(in []bool, i, n int) int {
		for in != nil && i < n && !in[i] {
			i++
		}
		return i
	}
	d := &rowDiff{}
	i, j := next(inOld, 0, len(old)), next(inNew, 0, len(new))
	for i < len(old) || j < len(new) {
		c := 0
		switch {
		case i >= len(old):
			c = 1
		case j >= len(new):
			c = -1
		default:
			c = cmpRowKey(old[i], new[j])
		}
		switch {
		case c < 0:
			d.gone = append(d.gone, &old[i])
			i = next(inOld, i+1, len(old))
		case c > 0:
			d.set = append(d.set, &new[j])
			j = next(inNew, j+1, len(new))
		default:
			if !sameRowValue(&old[i], &new[j]) {
				d.set = append(d.set, &new[j])
			}
			i = next(inOld, i+1, len(old))
			j = next(inNew, j+1, len(new))
		}
	}
	return d
}

// sameGlobIDs says whether the globs of both plans have the same IDs in
// each. A row whose globs are in both then has the same value in both; a
// row naming a glob of one plan only differs from every row of the other.
func sameGlobIDs(a, b *pathPlan) bool {
	for content, id := range b.globIDs {
		if aid, ok := a.globIDs[content]; ok && aid != id {
			return false
		}
	}
	return true
}

// sameRowValue says whether two rows of the same key have the same value
// (their globs named by the same IDs).
func sameRowValue(a, b *table.PathRow) bool {
	return a.Enforce == b.Enforce && a.Audit == b.Audit && slices.Equal(a.Globs, b.Globs)
}

// rowEntry is a row's key and value bytes in one map.
type rowEntry func(r *table.PathRow) (k, v []byte)

// write deletes the gone rows' entries from map name (m) and writes the set
// rows' entries, keeping held (the generation's entries of that map) what m
// holds.
func (d *rowDiff) write(m *ebpf.Map, name string, held map[string][]byte, st *ApplyStats) error {
	for _, r := range d.gone {
		kb, _ := d.oldEntry(r)
		if err := m.Delete(kb); err != nil {
			return fmt.Errorf("deleting from map %s: %w", name, err)
		}
		delete(held, string(kb))
		st.Deleted++
	}
	for _, r := range d.set {
		kb, vb := d.newEntry(r)
		if err := m.Put(kb, vb); err != nil {
			return fmt.Errorf("writing map %s: %w", name, err)
		}
		held[string(kb)] = vb
		st.Updated++
	}
	return nil
}

// pathEntries and hashEntries encode rows as p lays them out in the paths
// and path_hash maps of generation gen.
func (p *pathPlan) pathEntries(gen uint8) rowEntry {
	return func(r *table.PathRow) ([]byte, []byte) {
		k, v := p.pathEntry(gen, r)
		return marshal(k), marshal(v)
	}
}

func (p *pathPlan) hashEntries(gen uint8) rowEntry {
	return func(r *table.PathRow) ([]byte, []byte) {
		k, v := p.hashEntry(gen, r)
		return marshal(k), marshal(v)
	}
}
