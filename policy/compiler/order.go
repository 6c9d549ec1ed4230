package compiler

import (
	"slices"

	"github.com/axon-dev/axon/policy/table"
)

// sort puts every slice of the table in its documented order.
func sortTable(t *table.Table) {
	slices.SortFunc(t.Identities, func(a, b table.Identity) int { return table.CmpU32(a.ID, b.ID) })
	slices.SortFunc(t.PodIPs, func(a, b table.PodIP) int { return a.Addr.Compare(b.Addr) })
	slices.SortFunc(t.CIDRs, func(a, b table.CIDRIdentity) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	slices.SortFunc(t.Methods, func(a, b table.Method) int { return int(a.ID) - int(b.ID) })
	slices.SortFunc(t.Endpoints, func(a, b table.Endpoint) int { return table.CmpU32(a.ID, b.ID) })
	// Classes and Paths are written in order by emitGroups.
}
