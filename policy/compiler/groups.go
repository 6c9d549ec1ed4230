package compiler

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/axon-dev/axon/policy/table"
)

// defaults computes the endpoint defaults of a set of policies.
func defaults(ps []*policy, pols []int) (enforce bool, ed, fd table.Verdict) {
	pick := func(onlyEnforce bool) table.Verdict {
		var deny, allow table.RuleID
		for _, i := range pols {
			p := ps[i]
			if onlyEnforce && p.mode != table.ModeEnforce {
				continue
			}
			if actionOf(p.p.Spec.DefaultAction) == table.ActionDeny {
				deny = table.Lower(deny, p.defRule)
			} else {
				allow = table.Lower(allow, p.defRule)
			}
		}
		if deny != 0 {
			return table.Verdict{Action: table.ActionDeny, Rule: deny}
		}
		return table.Verdict{Action: table.ActionAllow, Rule: allow}
	}
	for _, i := range pols {
		enforce = enforce || ps[i].mode == table.ModeEnforce
	}
	return enforce, pick(true), pick(false)
}

// fingerprint identifies the identity universe and method IDs a group's
// classes and rows are computed against. A pod identity's addresses are part
// of it: whether a CIDR test holds for the identity depends on them.
func fingerprint(u *universe, methodIDs map[string]uint8) string {
	h := sha256.New()
	for _, id := range u.ids {
		fmt.Fprintf(h, "%s=%d", id.key, id.id)
		ips := slices.Clone(id.ips)
		slices.SortFunc(ips, func(a, b netip.Addr) int { return a.Compare(b) })
		for _, ip := range ips {
			fmt.Fprintf(h, ",%s", ip)
		}
		h.Write([]byte{0})
	}
	names := make([]string, 0, len(methodIDs))
	for n := range methodIDs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "%s=%d\x00", n, methodIDs[n])
	}
	return string(h.Sum(nil))
}

// cacheKey identifies what a group's classes and rows depend on: the
// fingerprint and its conjunctions with their rules' IDs, actions and modes.
func (g *group) cacheKey(fp string, rules []table.Rule) string {
	h := sha256.New()
	h.Write([]byte(fp))
	for _, c := range g.conjs {
		r := rules[c.rule-1]
		fmt.Fprintf(h, "%d/%d/%d\x00%s\x00", r.ID, r.Action, r.Mode, c.content)
	}
	return string(h.Sum(nil))
}

// addEndpoints adds the endpoints of a group's targets.
func addEndpoints(t *table.Table, g *group, ps []*policy, epIDs map[epKey]uint32) {
	enforce, ed, fd := defaults(ps, g.policies)
	for _, tg := range g.targets {
		for _, ip := range tg.pod.ips {
			id := epIDs[epKey{ip, tg.port}]
			t.Endpoints = append(t.Endpoints, table.Endpoint{ID: id, Addr: ip, Port: tg.port, Namespace: tg.pod.ns, Pod: tg.pod.name, Enforce: enforce, EnforceDefault: ed, FullDefault: fd})
		}
	}
}

// compileGroup computes the source classes and path rows of a group.
func compileGroup(t *table.Table, g *group, u *universe, methodIDs map[string]uint8) error {
	// Distinct source conditions and the identities each selects.
	srcIndex := map[string]int{}
	var srcBits []bitset
	conjSrc := make([]int, len(g.conjs))
	for i, c := range g.conjs {
		k, ok := srcIndex[c.srcKey]
		if !ok {
			b, err := u.sources(c)
			if err != nil {
				return err
			}
			k = len(srcBits)
			srcIndex[c.srcKey] = k
			srcBits = append(srcBits, b)
		}
		conjSrc[i] = k
	}
	idClass, classSigs, err := classify(len(u.ids), srcBits)
	if err != nil {
		return err
	}
	total := len(u.ids)
	// Source classes of every endpoint of the group, by identity ID.
	n := 0
	for _, c := range idClass {
		if c != 0 {
			n++
		}
	}
	g.classes = make([]table.SourceClass, 0, n)
	for i, id := range u.ids {
		if idClass[i] != 0 {
			g.classes = append(g.classes, table.SourceClass{Identity: id.id, Class: idClass[i]})
		}
	}
	// Rows per class and method slot, sorted by class, method, prefix.
	common := make([]bool, len(srcBits))
	for k, b := range srcBits {
		common[k] = b.count() == total
	}
	allIDs := []uint8{table.MethodUnknown}
	for _, id := range methodIDs {
		allIDs = append(allIDs, id)
	}
	slices.Sort(allIDs)
	conjSlots := make([][]uint8, len(g.conjs))
	for i, c := range g.conjs {
		conjSlots[i] = c.slots(methodIDs, allIDs)
	}
	for class, sig := range classSigs {
		in := slices.Clone(common)
		for _, k := range sig {
			in[k] = true
		}
		slots := map[uint8][]*conj{}
		for i, c := range g.conjs {
			if !in[conjSrc[i]] {
				continue
			}
			for _, m := range conjSlots[i] {
				slots[m] = append(slots[m], c)
			}
		}
		ms := make([]uint8, 0, len(slots))
		for m := range slots {
			ms = append(ms, m)
		}
		slices.Sort(ms)
		for _, m := range ms {
			rows, err := buildRows(slots[m], t.Rules)
			if err != nil {
				return err
			}
			for _, r := range rows {
				g.rows = append(g.rows, table.PathRow{Class: uint16(class), Method: m, Prefix: r.prefix, Enforce: r.val.enforce, Audit: r.val.audit, Globs: r.val.globs})
			}
		}
	}
	return nil
}

// emitGroups writes the groups' classes and rows for each of their
// endpoints, in endpoint order, so that Classes and Paths come out sorted.
func emitGroups(t *table.Table, groups []*group, epIDs map[epKey]uint32) {
	type block struct {
		ep uint32
		g  *group
	}
	var blocks []block
	nRows, nClasses := 0, 0
	for _, g := range groups {
		for _, tg := range g.targets {
			for _, ip := range tg.pod.ips {
				blocks = append(blocks, block{epIDs[epKey{ip, tg.port}], g})
				nRows += len(g.rows)
				nClasses += len(g.classes)
			}
		}
	}
	slices.SortFunc(blocks, func(a, b block) int { return table.CmpU32(a.ep, b.ep) })
	t.Paths = make([]table.PathRow, 0, nRows)
	t.Classes = make([]table.SourceClass, 0, nClasses)
	for _, b := range blocks {
		for _, c := range b.g.classes {
			c.Endpoint = b.ep
			t.Classes = append(t.Classes, c)
		}
		for _, r := range b.g.rows {
			r.Endpoint = b.ep
			t.Paths = append(t.Paths, r)
		}
	}
}

// slots returns the method IDs whose tries the conjunction belongs to.
func (c *conj) slots(ids map[string]uint8, all []uint8) []uint8 {
	if len(c.methods) == 0 {
		return []uint8{table.MethodAny}
	}
	allowed := map[uint8]bool{}
	for _, id := range all {
		allowed[id] = true
	}
	restricted := false
	for _, m := range c.methods {
		if m.neg {
			for _, n := range m.set {
				if allowed[ids[n]] {
					restricted = true
				}
				delete(allowed, ids[n])
			}
			continue
		}
		restricted = true
		in := map[uint8]bool{}
		for _, n := range m.set {
			in[ids[n]] = true
		}
		for id := range allowed {
			if !in[id] {
				delete(allowed, id)
			}
		}
	}
	if !restricted {
		return []uint8{table.MethodAny}
	}
	out := make([]uint8, 0, len(allowed))
	for id := range allowed {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
