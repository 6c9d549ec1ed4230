package datapath

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// randomTable is a table of a few endpoints whose path rows are random, as
// TestMergeRowsMatchesMaps draws them, in the compiler's order.
func randomTable(rng *rand.Rand) *table.Table {
	t := &table.Table{Methods: []table.Method{{Name: "GET", ID: 1}, {Name: "POST", ID: 2}}}
	for id := uint32(1); id <= 4; id++ {
		r := table.RuleID(id)
		t.Rules = append(t.Rules, table.Rule{ID: r})
		t.Endpoints = append(t.Endpoints, table.Endpoint{ID: id, Addr: netip.AddrFrom4([4]byte{10, 91, 0, byte(id)}), Port: 8080, Enforce: rng.IntN(2) == 0,
			EnforceDefault: table.Verdict{Action: table.ActionDeny, Rule: r}, FullDefault: table.Verdict{Action: table.ActionDeny, Rule: r}})
		for c := uint16(1); c <= 2; c++ {
			t.Classes = append(t.Classes, table.SourceClass{Endpoint: id, Identity: 256 + uint32(c), Class: c})
		}
	}
	prefixes := []string{"", "/", "/a", "/a/", "/a/b", "/a/b\x00", "/ab", "/b", "/b/c\x00", "/c"}
	for i, n := 0, rng.IntN(60); i < n; i++ {
		m := uint8(1 + rng.IntN(2))
		if rng.IntN(2) == 0 {
			m = table.MethodAny
		}
		r := table.PathRow{
			Endpoint: uint32(1 + rng.IntN(4)), Class: uint16(1 + rng.IntN(2)), Method: m,
			Prefix:  prefixes[rng.IntN(len(prefixes))],
			Enforce: table.Match{Deny: table.RuleID(rng.IntN(5)), Allow: table.RuleID(rng.IntN(5))},
			Audit:   table.Match{Deny: table.RuleID(rng.IntN(5)), Allow: table.RuleID(rng.IntN(5))},
		}
		if rng.IntN(4) == 0 {
			r.Globs = []table.Glob{{Pattern: fmt.Sprintf("/g%d/*", rng.IntN(3)), Rule: table.RuleID(1 + rng.IntN(4)), Action: table.ActionDeny}}
		}
		t.Paths = append(t.Paths, r)
	}
	sort.SliceStable(t.Paths, func(i, j int) bool { return cmpRowKey(t.Paths[i], t.Paths[j]) < 0 })
	t.Paths = slices.CompactFunc(t.Paths, func(a, b table.PathRow) bool { return cmpRowKey(a, b) == 0 })
	return t
}

// mutateRows is t with a few path rows changed, dropped or added (some
// with a glob no row of t names).
func mutateRows(rng *rand.Rand, t *table.Table) *table.Table {
	c := *t
	c.Paths = slices.Clone(t.Paths)
	for n := 1 + rng.IntN(3); n > 0 && len(c.Paths) > 0; n-- {
		i := rng.IntN(len(c.Paths))
		switch rng.IntN(3) {
		case 0:
			c.Paths[i].Enforce.Allow = table.RuleID(rng.IntN(5))
			if rng.IntN(3) == 0 { // the same key, another glob
				c.Paths[i].Globs = []table.Glob{{Pattern: fmt.Sprintf("/n%d/*", rng.IntN(1000)), Rule: 2, Action: table.ActionDeny}}
			}
		case 1:
			c.Paths = slices.Delete(c.Paths, i, i+1)
		case 2:
			r := c.Paths[i]
			r.Prefix = strings.TrimSuffix(r.Prefix, "\x00") + "/x" // no NUL inside a row (planPaths refuses one)
			r.Globs = nil
			if rng.IntN(3) == 0 { // a glob no row had
				r.Globs = []table.Glob{{Pattern: fmt.Sprintf("/n%d/*", rng.IntN(1000)), Rule: 1, Action: table.ActionDeny}}
			}
			c.Paths = append(c.Paths, r)
		}
	}
	sort.SliceStable(c.Paths, func(i, j int) bool { return cmpRowKey(c.Paths[i], c.Paths[j]) < 0 })
	c.Paths = slices.CompactFunc(c.Paths, func(a, b table.PathRow) bool { return cmpRowKey(a, b) == 0 })
	return &c
}

// TestApplyMapsHoldTable applies a sequence of random tables, each written
// as a diff against what its generation held (most of them by comparing
// path rows with those the generation was written from), and checks after each that
// the kernel's maps hold, in the active generation, exactly the entries of
// the table encoded whole: the diffs never leave an entry behind or miss
// one.
func TestApplyMapsHoldTable(t *testing.T) {
	d := sharedTest(t)
	rng := rand.New(rand.NewPCG(50, 15))
	var last *table.Table
	for step := 0; step < 60; step++ {
		tab := randomTable(rng)
		if last != nil && step%3 != 0 {
			// Most steps change a few rows of the last table and keep its
			// globs: the paths map is then written by comparing rows.
			tab = mutateRows(rng, last)
		}
		last = tab
		if err := d.Apply(tab); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		d.mu.Lock()
		err := d.readBack()
		active, held := d.active, d.held[d.active]
		d.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		want, err := encode(tab, active)
		if err != nil {
			t.Fatal(err)
		}
		for _, dm := range decisionMaps {
			if !maps.EqualFunc(held[dm.name], want[dm.name], bytes.Equal) {
				t.Fatalf("step %d: map %s holds %d entries of generation %d, the table encoded whole has %d (or they differ)",
					step, dm.name, len(held[dm.name]), active, len(want[dm.name]))
			}
		}
	}
}
