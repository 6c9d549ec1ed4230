package table

import "strings"

// ComparePathRows orders path rows as Table.Paths is sorted: by endpoint,
// class, method, then prefix.
func ComparePathRows(a, b PathRow) int {
	if c := CmpU32(a.Endpoint, b.Endpoint); c != 0 {
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

// CmpU32 compares two uint32 like cmp.Compare.
func CmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
