package datapath

import (
	"fmt"
	"slices"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
	"github.com/cilium/ebpf"
)

// rowDiff is how the merged path rows of a new table differ from those a
// generation holds, both in key order: rows whose key is gone, and rows
// that are new or whose value changed.
type rowDiff struct {
	gone, set []*table.PathRow
}

// diffRows compares old and new merged rows (mergeRows: sorted, one per
// key).
func diffRows(old, new []table.PathRow) *rowDiff {
	d := &rowDiff{}
	i, j := 0, 0
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
			i++
		case c > 0:
			d.set = append(d.set, &new[j])
			j++
		default:
			if !sameRowValue(&old[i], &new[j]) {
				d.set = append(d.set, &new[j])
			}
			i++
			j++
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

// write deletes the gone rows' entries from m and writes the set rows'
// entries, keeping held (the generation's paths entries) what m holds.
// oldPlan and newPlan encode the old and new rows.
func (d *rowDiff) write(m *ebpf.Map, held map[string][]byte, oldPlan, newPlan *pathPlan, gen uint8, st *ApplyStats) error {
	for _, r := range d.gone {
		k, _ := oldPlan.pathEntry(gen, r)
		kb := marshal(k)
		if err := m.Delete(kb); err != nil {
			return fmt.Errorf("deleting from map %s: %w", bpf.AxonMapPaths, err)
		}
		delete(held, string(kb))
		st.Deleted++
	}
	for _, r := range d.set {
		k, v := newPlan.pathEntry(gen, r)
		kb, vb := marshal(k), marshal(v)
		if err := m.Put(kb, vb); err != nil {
			return fmt.Errorf("writing map %s: %w", bpf.AxonMapPaths, err)
		}
		held[string(kb)] = vb
		st.Updated++
	}
	return nil
}
