package datapath

import (
	"cmp"
	"slices"
	"strings"

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
//
// Rows come from the compiler sorted by endpoint, class, method and prefix
// (MethodAny, 255, last): each (endpoint, class) is merged on its own, in
// one pass, and the output comes out in that order. Other input is sorted
// first; of rows with the same key, the last one counts.
func mergeRows(rows []table.PathRow) []table.PathRow {
	if !slices.IsSortedFunc(rows, cmpRowKey) {
		rows = slices.Clone(rows)
		slices.SortStableFunc(rows, cmpRowKey)
	}
	out := make([]table.PathRow, 0, len(rows)+len(rows)/4)
	own := map[string]*table.PathRow{}
	anyRows := map[string]*table.PathRow{}
	var anyList []*table.PathRow // MethodAny's rows, one per prefix, sorted
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].Endpoint == rows[i].Endpoint && rows[j].Class == rows[i].Class {
			j++
		}
		run := rows[i:j]
		k := len(run)
		for k > 0 && run[k-1].Method == table.MethodAny {
			k--
		}
		clear(anyRows)
		anyList = anyList[:0]
		for x := k; x < len(run); x++ {
			r := &run[x]
			if _, dup := anyRows[r.Prefix]; dup {
				anyList[len(anyList)-1] = r // sorted: the previous one
			} else {
				anyList = append(anyList, r)
			}
			anyRows[r.Prefix] = r
		}
		for m := 0; m < k; {
			n := m + 1
			for n < k && run[n].Method == run[m].Method {
				n++
			}
			clear(own)
			for x := m; x < n; x++ {
				own[run[x].Prefix] = &run[x]
			}
			out = mergeMethod(out, run[m].Endpoint, run[m].Class, run[m].Method, run[m:n], own, anyList, anyRows)
			m = n
		}
		for _, r := range anyList {
			out = append(out, *r)
		}
		i = j
	}
	return out
}

// mergeMethod appends the merged trie of one method of an (endpoint,
// class): a row for "" and for every prefix of its rows (sorted, own) and
// of MethodAny's (anyList), each combining the longest row of each.
func mergeMethod(out []table.PathRow, ep uint32, class uint16, m uint8, sorted []table.PathRow, own map[string]*table.PathRow, anyList []*table.PathRow, anyRows map[string]*table.PathRow) []table.PathRow {
	emit := func(p string) { out = append(out, mergedRow(ep, class, m, p, own, anyRows)) }
	// The union of "", the own prefixes and MethodAny's, in order: a merge
	// of two sorted lists ("" sorts first).
	last, started := "", false
	next := func(p string) {
		if started && p == last {
			return
		}
		if !started && p != "" {
			emit("")
		}
		started, last = true, p
		emit(p)
	}
	a, b := 0, 0
	for a < len(sorted) || b < len(anyList) {
		switch {
		case b >= len(anyList) || a < len(sorted) && sorted[a].Prefix <= anyList[b].Prefix:
			next(sorted[a].Prefix)
			a++
		default:
			next(anyList[b].Prefix)
			b++
		}
	}
	if !started {
		emit("")
	}
	return out
}

// longest is the row of set with the longest prefix of p, or nil.
func longest(set map[string]*table.PathRow, p string) *table.PathRow {
	for l := len(p); l >= 0; l-- {
		if r, ok := set[p[:l]]; ok {
			return r
		}
	}
	return nil
}

// cmpRowKey orders rows by endpoint, class, method and prefix.
func cmpRowKey(a, b table.PathRow) int {
	if c := cmp.Compare(a.Endpoint, b.Endpoint); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Class, b.Class); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Method, b.Method); c != 0 {
		return c
	}
	return strings.Compare(a.Prefix, b.Prefix)
}

func containsGlob(gs []table.Glob, g table.Glob) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}

// mergedRow is the row of method m for prefix p: the longest of the
// method's own rows (own) and the longest of MethodAny's (anyRows) that
// cover p, combined.
func mergedRow(ep uint32, class uint16, m uint8, p string, own, anyRows map[string]*table.PathRow) table.PathRow {
	row := table.PathRow{Endpoint: ep, Class: class, Method: m, Prefix: p}
	for _, src := range [2]*table.PathRow{longest(own, p), longest(anyRows, p)} {
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
	return row
}
