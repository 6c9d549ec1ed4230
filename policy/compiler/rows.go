package compiler

import (
	"slices"
	"sort"
	"strings"

	"github.com/axon-dev/axon/policy/table"
)

// rowVal is what one path trie row holds.
type rowVal struct {
	enforce, audit table.Match
	globs          []table.Glob
}

func (v *rowVal) equal(o *rowVal) bool {
	return v.enforce == o.enforce && v.audit == o.audit && slices.Equal(v.globs, o.globs)
}

func (v *rowVal) empty() bool {
	return v.enforce == table.Match{} && v.audit == table.Match{} && len(v.globs) == 0
}

func (a *pathAtom) key() string {
	switch a.kind {
	case pathExact:
		return a.s + "\x00"
	case pathStarts:
		return a.s
	}
	return globLiteral(a.s)
}

// onRow evaluates the conjunction's path tests for the paths whose longest
// matching row is r: it matches all of them (all), or those a glob matches
// (glob != ""), or none.
func (c *conj) onRow(r string) (all bool, glob string, err error) {
	for i := range c.paths {
		a := &c.paths[i]
		var v bool
		switch a.kind {
		case pathExact, pathStarts:
			v = strings.HasPrefix(r, a.key())
		case pathGlob:
			if strings.HasPrefix(r, a.key()) {
				if glob != "" && glob != a.s {
					e := &Error{Construct: "glob.match(\"" + a.s + "\", [\"/\"], input.path)", Msg: "two globs in one condition", Hint: "use one glob per rule", Kind: ErrUnsupported}
					if a.loc != nil {
						e.File, e.Line = a.loc.File, a.loc.Row
					}
					return false, "", e
				}
				glob = a.s
				continue
			}
		}
		if v == a.neg {
			return false, "", nil
		}
	}
	return glob == "", glob, nil
}

type row struct {
	prefix string
	val    rowVal
}

// buildRows computes the path trie of one (endpoint, class, method) slot from
// the conjunctions that apply to it: one row per pattern key, each holding
// every rule that matches all paths whose longest match is that row, and the
// globs that may match them. Rows equal to their nearest ancestor (or empty
// without one) are dropped: the lookup then falls back to an equal row.
func buildRows(conjs []*conj, rules []table.Rule) ([]row, error) {
	keys := map[string]bool{"": true}
	for _, c := range conjs {
		for i := range c.paths {
			keys[c.paths[i].key()] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	vals := make(map[string]*rowVal, len(sorted))
	var out []row
	for _, k := range sorted {
		v := &rowVal{}
		for _, c := range conjs {
			all, glob, err := c.onRow(k)
			if err != nil {
				return nil, err
			}
			r := &rules[c.rule-1]
			switch {
			case all && r.Mode == table.ModeEnforce:
				v.enforce.Add(r.Action, c.rule)
			case all:
				v.audit.Add(r.Action, c.rule)
			case glob != "":
				v.globs = append(v.globs, table.Glob{Pattern: glob, Rule: c.rule, Action: r.Action, Mode: r.Mode})
			}
		}
		slices.SortFunc(v.globs, func(a, b table.Glob) int {
			if a.Rule != b.Rule {
				return int(a.Rule) - int(b.Rule)
			}
			return strings.Compare(a.Pattern, b.Pattern)
		})
		v.globs = slices.Compact(v.globs)
		vals[k] = v
		parent := &rowVal{}
		for l := len(k) - 1; l >= 0; l-- {
			if p, ok := vals[k[:l]]; ok {
				parent = p
				break
			}
		}
		if !v.equal(parent) {
			out = append(out, row{prefix: k, val: *v})
		}
	}
	return out, nil
}
