package datapath

import (
	"fmt"
	"sort"
	"strings"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
)

// Fit reports whether the datapath can load t: every bound of the parser
// (method and path key lengths, glob candidates per path row, after the
// rows of MethodAny are merged in) and every decision map holding t beside
// a table of the same size. The error wraps ErrTableTooLarge and names the
// limit and the figure. Apply checks the same bounds, too late for a user.
// The map sizes are this process's (TableLimits: the defaults, or the
// --max-* flags given to SetLimits).
func Fit(t *table.Table) error {
	lim, err := TableLimits()
	if err != nil {
		return err
	}
	return lim.Fit(t)
}

// Fit is the package's Fit against the map sizes lim.
func (lim Limits) Fit(t *table.Table) error {
	var errs []string
	count := func(m string, n int, what, hint string) {
		if max := lim[m]; n > max {
			if f := flagFor(m); f != "" {
				hint += fmt.Sprintf(", or raise --%s (now %d) on the agent and on axon policy compile", f, max)
			}
			errs = append(errs, fmt.Sprintf("%d %s, at most %d (map %s holds %d: the table in force and the next one); %s",
				n, what, max, m, 2*max, hint))
		}
	}
	addrs := map[[16]byte]bool{}
	for _, e := range t.Endpoints {
		addrs[addr16(e.Addr)] = true
	}
	count(bpf.AxonMapEndpoints, len(t.Endpoints)+len(addrs), "endpoint entries (one per policed address and port, one per address)", "select fewer pods or ports")
	count(bpf.AxonMapPodIps, len(t.PodIPs), "pod addresses", "fewer pods")
	count(bpf.AxonMapCidrs, len(t.CIDRs), "CIDR identities", "fewer distinct ipBlocks")
	count(bpf.AxonMapClasses, len(t.Classes), "source classes (endpoint x identity)", "fewer endpoints or fewer distinct sources")
	count(bpf.AxonMapMethods, len(t.Methods), "methods", "fewer distinct methods")
	for _, m := range t.Methods {
		if len(m.Name) > maxMethodLen {
			errs = append(errs, fmt.Sprintf("method %q longer than %d bytes", m.Name, maxMethodLen))
		}
	}
	rows := mergeRows(t.Paths)
	count(bpf.AxonMapPaths, len(rows), "path rows (endpoint x source class x method x path)", "fewer paths or sources per endpoint, or fewer endpoints")
	globs := map[string]bool{}
	worst := -1
	for i, r := range rows {
		if len(r.Prefix) > table.MaxPathKey {
			errs = append(errs, fmt.Sprintf("a path prefix of %d bytes, at most %d", len(r.Prefix), table.MaxPathKey))
		}
		if len(r.Globs) > maxRowGlobs && (worst < 0 || len(r.Globs) > len(rows[worst].Globs)) {
			worst = i
		}
		for _, g := range r.Globs {
			globs[fmt.Sprintf("%s\x00%d\x00%d\x00%d", g.Pattern, g.Rule, g.Action, g.Mode)] = true
		}
	}
	if worst >= 0 {
		errs = append(errs, globError(t, rows[worst]))
	}
	count(bpf.AxonMapGlobs, len(globs), "glob rules (pattern x rule)", "fewer glob rules")
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrTableTooLarge, strings.Join(errs, "; "))
}

// globError describes a path row with too many glob candidates: where, and
// the rules they come from.
func globError(t *table.Table, r table.PathRow) string {
	where := fmt.Sprintf("endpoint %d", r.Endpoint)
	for _, e := range t.Endpoints {
		if e.ID == r.Endpoint {
			where = fmt.Sprintf("endpoint %s port %d", e.Addr, e.Port)
			break
		}
	}
	method := "any method"
	for _, m := range t.Methods {
		if uint8(m.ID) == r.Method && r.Method != table.MethodAny {
			method = m.Name
		}
	}
	rules := map[string]bool{}
	for _, g := range r.Globs {
		for _, ru := range t.Rules {
			if ru.ID == g.Rule {
				rules[fmt.Sprintf("%s/%s rule %d", ru.Namespace, ru.Policy, ru.Index)] = true
			}
		}
	}
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(rules)-5))
	}
	return fmt.Sprintf("%d glob rules could match one request (%s, %s, source class %d, path prefix %q), at most %d: the datapath tests at most %d globs per request; "+
		"rules: %s; give some of them a literal path prefix before the first wildcard, or merge them",
		len(r.Globs), where, method, r.Class, r.Prefix, maxRowGlobs, maxRowGlobs, strings.Join(names, ", "))
}

// MapPathRows is how many entries t takes in the paths map: its path rows
// once MethodAny's are merged into each method's (what Fit counts against
// the path rows limit).
func MapPathRows(t *table.Table) int { return len(mergeRows(t.Paths)) }

// HashedPathRows is how many of t's paths map entries are also in path_hash
// (policy_maps.h rule 6: decided by hash lookups, not the trie walk).
func HashedPathRows(t *table.Table) int {
	p, err := planPaths(t, maxTrieLens)
	if err != nil {
		return 0
	}
	n := 0
	for _, h := range p.hashed {
		if h {
			n++
		}
	}
	return n
}
