package compiler

import (
	"slices"
	"strings"
)

// sort puts every slice of the table in its documented order.
func (t *Table) sort() {
	slices.SortFunc(t.Identities, func(a, b Identity) int { return cmpU32(a.ID, b.ID) })
	slices.SortFunc(t.PodIPs, func(a, b PodIP) int { return a.Addr.Compare(b.Addr) })
	slices.SortFunc(t.CIDRs, func(a, b CIDRIdentity) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	slices.SortFunc(t.Methods, func(a, b Method) int { return int(a.ID) - int(b.ID) })
	slices.SortFunc(t.Endpoints, func(a, b Endpoint) int { return cmpU32(a.ID, b.ID) })
	// Classes and Paths are written in order by emitGroups.
}

func comparePathRows(a, b PathRow) int {
	if c := cmpU32(a.Endpoint, b.Endpoint); c != 0 {
		return c
	}
	if a.Class != b.Class {
		return int(a.Class) - int(b.Class)
	}
	if a.Method != b.Method {
		return int(a.Method) - int(b.Method)
	}
	return strings.Compare(a.Prefix, b.Prefix)
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
