package datapath

import (
	"sort"

	"github.com/axon-dev/axon/policy/table"
)

// mergeRows rewrites the path rows so that one LPM lookup decides a request
// whose method has rows of its own (policy_maps.h rule 6).
//
// The reference looks up the request method's trie and MethodAny's trie and
// combines the two longest rows. For each (endpoint, class) and each method m
// with rows, the merged trie of m holds every prefix P of m's and MethodAny's
// rows (and ""), each with the combination of m's and MethodAny's longest rows
// for P. For a path, the longest merged prefix P* is the longest of all rows
// that prefix the path, so m's and MethodAny's longest rows for the path are
// their longest rows for P*: the merged row is exactly what the two lookups
// would have combined. MethodAny's rows stay as they are, for methods without
// rows and unknown methods; the "" row makes a merged trie always answer, so
// the datapath knows when to fall back to them.
func mergeRows(rows []table.PathRow) []table.PathRow {
	type ec struct {
		ep    uint32
		class uint16
	}
	groups := map[ec]map[uint8]map[string]*table.PathRow{}
	for i := range rows {
		r := &rows[i]
		k := ec{r.Endpoint, r.Class}
		if groups[k] == nil {
			groups[k] = map[uint8]map[string]*table.PathRow{}
		}
		if groups[k][r.Method] == nil {
			groups[k][r.Method] = map[string]*table.PathRow{}
		}
		groups[k][r.Method][r.Prefix] = r
	}
	longest := func(set map[string]*table.PathRow, p string) *table.PathRow {
		for l := len(p); l >= 0; l-- {
			if r, ok := set[p[:l]]; ok {
				return r
			}
		}
		return nil
	}
	var out []table.PathRow
	for k, byMethod := range groups {
		anyRows := byMethod[table.MethodAny]
		for _, r := range anyRows {
			out = append(out, *r)
		}
		for m, own := range byMethod {
			if m == table.MethodAny {
				continue
			}
			prefixes := map[string]bool{"": true}
			for p := range own {
				prefixes[p] = true
			}
			for p := range anyRows {
				prefixes[p] = true
			}
			for p := range prefixes {
				row := table.PathRow{Endpoint: k.ep, Class: k.class, Method: m, Prefix: p}
				for _, src := range []*table.PathRow{longest(own, p), longest(anyRows, p)} {
					if src == nil {
						continue
					}
					row.Enforce = row.Enforce.Combine(src.Enforce)
					row.Audit = row.Audit.Combine(src.Audit)
					for _, g := range src.Globs {
						if !containsGlob(row.Globs, g) {
							row.Globs = append(row.Globs, g)
						}
					}
				}
				out = append(out, row)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Endpoint != b.Endpoint {
			return a.Endpoint < b.Endpoint
		}
		if a.Class != b.Class {
			return a.Class < b.Class
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.Prefix < b.Prefix
	})
	return out
}

func containsGlob(gs []table.Glob, g table.Glob) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}
