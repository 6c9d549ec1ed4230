package datapath

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// mergeRowsByMaps is mergeRows as first written: every (endpoint, class)
// and method in maps, the output sorted at the end. It is the reference the
// one-pass mergeRows is checked against: which prefixes get a row and in
// what order; each row is combined by the same mergedRow.
func mergeRowsByMaps(rows []table.PathRow) []table.PathRow {
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
				out = append(out, mergedRow(k.ep, k.class, m, p, own, anyRows))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return cmpRowKey(out[i], out[j]) < 0 })
	return out
}

// TestMergeRowsMatchesMaps checks the one-pass merge against the map-based
// one on random rows: sorted as the compiler writes them, shuffled, and
// with rows of the same key (the last one counts in both).
func TestMergeRowsMatchesMaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 15))
	prefixes := []string{"", "/", "/a", "/a/", "/a/b", "/a/b\x00", "/ab", "/b", "/b/c\x00", "/c"}
	for round := 0; round < 2000; round++ {
		var rows []table.PathRow
		for i, n := 0, rng.IntN(40); i < n; i++ {
			m := uint8(1 + rng.IntN(3))
			if rng.IntN(2) == 0 {
				m = table.MethodAny
			}
			r := table.PathRow{
				Endpoint: uint32(rng.IntN(3)), Class: uint16(rng.IntN(3)), Method: m,
				Prefix:  prefixes[rng.IntN(len(prefixes))],
				Enforce: table.Match{Deny: table.RuleID(rng.IntN(4)), Allow: table.RuleID(rng.IntN(4))},
				Audit:   table.Match{Deny: table.RuleID(rng.IntN(4)), Allow: table.RuleID(rng.IntN(4))},
			}
			for g := rng.IntN(3); g > 0; g-- {
				r.Globs = append(r.Globs, table.Glob{Pattern: fmt.Sprintf("/g%d/*", rng.IntN(3)), Rule: table.RuleID(1 + rng.IntN(3))})
			}
			rows = append(rows, r)
		}
		if round%2 == 0 {
			sort.SliceStable(rows, func(i, j int) bool { return cmpRowKey(rows[i], rows[j]) < 0 })
		}
		want, got := mergeRowsByMaps(rows), mergeRows(rows)
		if len(want) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: rows %v\nmerged %v\nwant   %v", round, rows, got, want)
		}
	}
}
