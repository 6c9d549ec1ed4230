package compiler

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// group is the set of targets with the same protecting policies (and, when
// one of them is written in Rego, the same destination attributes): they share
// one partial evaluation and one set of rows.
type group struct {
	policies []int
	targets  []*target
	conjs    []*conj
	classes  []SourceClass // Endpoint unset
	rows     []PathRow     // Endpoint unset
}

// Compile compiles the input into a decision table. Errors about the policies
// are *Error values (errors.Is ErrUnsupported or ErrInvalid).
func Compile(ctx context.Context, in *Input, opts ...Option) (*Table, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ps, rules, err := preparePolicies(in)
	if err != nil {
		return nil, err
	}
	pods, warns := knownPods(in)
	nsLabels := namespaceLabels(in, pods, ps)
	comp, err := libraryCompiler(ps)
	if err != nil {
		return nil, err
	}
	ruleIDs := make(map[ruleKey]RuleID, len(rules))
	for _, r := range rules {
		ruleIDs[ruleKey{r.Namespace, r.Policy, r.Index}] = r.ID
	}
	nsData := make(map[string]any, len(nsLabels))
	for n, l := range nsLabels {
		nsData[n] = labelsAny(l)
	}

	// Group the targets by protecting policies.
	var groups []*group
	byKey := map[string]*group{}
	tgs := targets(pods, ps)
	protects := make([]bool, len(ps))
	for _, t := range tgs {
		for _, i := range t.policies {
			protects[i] = true
		}
	}
	for i, p := range ps {
		if !protects[i] {
			warns = append(warns, fmt.Sprintf("policy %s selects no known pod: it polices nothing", p.key))
		}
	}
	for _, t := range tgs {
		var b strings.Builder
		for _, i := range t.policies {
			b.WriteString(strconv.Itoa(i))
			b.WriteByte(',')
			if ps[i].module != nil {
				fmt.Fprintf(&b, "%d|%s|", t.port, podKey(t.pod.ns, t.pod.labels))
			}
		}
		g, ok := byKey[b.String()]
		if !ok {
			g = &group{policies: t.policies}
			byKey[b.String()] = g
			groups = append(groups, g)
		}
		g.targets = append(g.targets, t)
	}
	// Partially evaluate each policy once (Rego policies once per
	// destination): a rule's residual does not depend on the other policies.
	o.cache.begin()
	jobs, err := runPartials(ctx, comp, nsData, ps, groups, ruleIDs, o.cache)
	if err != nil {
		return nil, err
	}
	cidrs := map[netip.Prefix]bool{}
	methodNames := map[string]bool{}
	for _, g := range groups {
		for _, pi := range g.policies {
			g.conjs = append(g.conjs, jobs[jobKey(ps[pi], pi, g.targets[0])]...)
		}
		for _, c := range g.conjs {
			for _, a := range c.src {
				if a.kind == srcCIDR {
					cidrs[a.prefix] = true
				}
			}
			for _, m := range c.methods {
				for _, n := range m.set {
					methodNames[n] = true
				}
			}
		}
	}

	t := &Table{Rules: rules, Warnings: warns}
	u := buildUniverse(pods, cidrs, o.previous)
	methodIDs, err := t.assignMethods(methodNames, o.previous)
	if err != nil {
		return nil, err
	}
	t.fillIdentities(u, pods)
	epIDs := endpointIDs(groups, o.previous)
	fp := fingerprint(u, methodIDs)
	for _, g := range groups {
		key := g.cacheKey(fp, t.Rules)
		if cr, ok := o.cache.getGroup(key); ok {
			g.classes, g.rows = cr.classes, cr.rows
		} else {
			if err := t.compileGroup(g, u, methodIDs); err != nil {
				return nil, withPolicy(err, ps, g.policies)
			}
			o.cache.putGroup(key, groupResult{g.classes, g.rows})
		}
		t.addEndpoints(g, ps, epIDs)
	}
	t.emitGroups(groups, epIDs)
	t.sort()
	o.cache.end()
	return t, nil
}

func labelsAny(l map[string]string) map[string]any {
	m := make(map[string]any, len(l))
	for k, v := range l {
		m[k] = v
	}
	return m
}

// withPolicy names the policy in an *Error without one when a group has a
// single policy.
func withPolicy(err error, ps []*policy, pols []int) error {
	if e, ok := err.(*Error); ok && e.Policy == "" && len(pols) == 1 {
		e.Policy = ps[pols[0]].key
	}
	return err
}

func (t *Table) assignMethods(names map[string]bool, prev *Table) (map[string]uint8, error) {
	ids := map[string]uint8{}
	used := map[uint8]bool{}
	if prev != nil {
		for _, m := range prev.Methods {
			if names[m.Name] {
				ids[m.Name] = m.ID
				used[m.ID] = true
			}
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	next := uint8(1)
	for _, n := range sorted {
		if _, ok := ids[n]; ok {
			continue
		}
		for used[next] {
			next++
		}
		if next == MethodAny {
			return nil, &Error{Construct: "methods", Msg: fmt.Sprintf("more than %d distinct methods", MethodAny-1), Kind: ErrInvalid}
		}
		ids[n] = next
		used[next] = true
	}
	for n, id := range ids {
		t.Methods = append(t.Methods, Method{Name: n, ID: id})
	}
	return ids, nil
}

func (t *Table) fillIdentities(u *universe, pods []*knownPod) {
	for _, id := range u.ids[1:] {
		ti := Identity{ID: id.id}
		if id.pod {
			ti.Namespace, ti.Labels = id.ns, id.labels
		} else {
			ti.CIDR = id.prefix.String()
			t.CIDRs = append(t.CIDRs, CIDRIdentity{Prefix: id.prefix, Identity: id.id})
		}
		t.Identities = append(t.Identities, ti)
	}
	for _, kp := range pods {
		for _, ip := range kp.ips {
			t.PodIPs = append(t.PodIPs, PodIP{Addr: ip, Identity: kp.ident.id})
		}
	}
}

type epKey struct {
	addr netip.Addr
	port uint16
}

// endpointIDs numbers the endpoints, keeping the IDs of prev.
func endpointIDs(groups []*group, prev *Table) map[epKey]uint32 {
	ids := map[epKey]uint32{}
	old := map[epKey]uint32{}
	next := uint32(1)
	if prev != nil {
		for _, e := range prev.Endpoints {
			old[epKey{e.Addr, e.Port}] = e.ID
			next = max(next, e.ID+1)
		}
	}
	var fresh []epKey
	for _, g := range groups {
		for _, tg := range g.targets {
			for _, ip := range tg.pod.ips {
				k := epKey{ip, tg.port}
				if id, ok := old[k]; ok {
					ids[k] = id
				} else {
					fresh = append(fresh, k)
				}
			}
		}
	}
	slices.SortFunc(fresh, func(a, b epKey) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	})
	for _, k := range fresh {
		ids[k] = next
		next++
	}
	return ids
}

// defaults computes the endpoint defaults of a set of policies.
func defaults(ps []*policy, pols []int) (enforce bool, ed, fd Verdict) {
	pick := func(onlyEnforce bool) Verdict {
		var deny, allow RuleID
		for _, i := range pols {
			p := ps[i]
			if onlyEnforce && p.mode != ModeEnforce {
				continue
			}
			if actionOf(p.p.Spec.DefaultAction) == ActionDeny {
				deny = lower(deny, p.defRule)
			} else {
				allow = lower(allow, p.defRule)
			}
		}
		if deny != 0 {
			return Verdict{ActionDeny, deny}
		}
		return Verdict{ActionAllow, allow}
	}
	for _, i := range pols {
		enforce = enforce || ps[i].mode == ModeEnforce
	}
	return enforce, pick(true), pick(false)
}

// fingerprint identifies the identity universe and method IDs a group's
// classes and rows are computed against.
func fingerprint(u *universe, methodIDs map[string]uint8) string {
	h := sha256.New()
	for _, id := range u.ids {
		fmt.Fprintf(h, "%s=%d\x00", id.key, id.id)
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
func (g *group) cacheKey(fp string, rules []Rule) string {
	h := sha256.New()
	h.Write([]byte(fp))
	for _, c := range g.conjs {
		r := rules[c.rule-1]
		fmt.Fprintf(h, "%d/%d/%d\x00%s\x00", r.ID, r.Action, r.Mode, c.content)
	}
	return string(h.Sum(nil))
}

// addEndpoints adds the endpoints of a group's targets.
func (t *Table) addEndpoints(g *group, ps []*policy, epIDs map[epKey]uint32) {
	enforce, ed, fd := defaults(ps, g.policies)
	for _, tg := range g.targets {
		for _, ip := range tg.pod.ips {
			id := epIDs[epKey{ip, tg.port}]
			t.Endpoints = append(t.Endpoints, Endpoint{ID: id, Addr: ip, Port: tg.port, Namespace: tg.pod.ns, Pod: tg.pod.name, Enforce: enforce, EnforceDefault: ed, FullDefault: fd})
		}
	}
}

// compileGroup computes the source classes and path rows of a group.
func (t *Table) compileGroup(g *group, u *universe, methodIDs map[string]uint8) error {
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
	// Signature of each identity: the source conditions it satisfies.
	sigs := make([][]int32, len(u.ids))
	total := len(u.ids)
	for k, b := range srcBits {
		if b.count() == total {
			continue // satisfied by everyone: part of every class
		}
		b.each(func(i int) { sigs[i] = append(sigs[i], int32(k)) })
	}
	classOf := map[string]uint16{}
	var classSigs [][]int32
	idClass := make([]uint16, len(u.ids))
	for i := range u.ids {
		key := sigKey(sigs[i])
		c, ok := classOf[key]
		if !ok {
			if len(classSigs) > 0xffff {
				return &Error{Construct: "sources", Msg: "more than 65535 source classes on one endpoint", Kind: ErrInvalid}
			}
			c = uint16(len(classSigs))
			classOf[key] = c
			classSigs = append(classSigs, sigs[i])
		}
		idClass[i] = c
	}
	// Source classes of every endpoint of the group, by identity ID.
	for i, id := range u.ids {
		if idClass[i] != 0 {
			g.classes = append(g.classes, SourceClass{Identity: id.id, Class: idClass[i]})
		}
	}
	// Rows per class and method slot, sorted by class, method, prefix.
	common := make([]bool, len(srcBits))
	for k, b := range srcBits {
		common[k] = b.count() == total
	}
	allIDs := []uint8{MethodUnknown}
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
				g.rows = append(g.rows, PathRow{Class: uint16(class), Method: m, Prefix: r.prefix, Enforce: r.val.enforce, Audit: r.val.audit, Globs: r.val.globs})
			}
		}
	}
	return nil
}

// emitGroups writes the groups' classes and rows for each of their
// endpoints, in endpoint order, so that Classes and Paths come out sorted.
func (t *Table) emitGroups(groups []*group, epIDs map[epKey]uint32) {
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
	slices.SortFunc(blocks, func(a, b block) int { return cmpU32(a.ep, b.ep) })
	t.Paths = make([]PathRow, 0, nRows)
	t.Classes = make([]SourceClass, 0, nClasses)
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

func sigKey(s []int32) string {
	var b strings.Builder
	for _, k := range s {
		b.WriteString(strconv.Itoa(int(k)))
		b.WriteByte(',')
	}
	return b.String()
}

// slots returns the method IDs whose tries the conjunction belongs to.
func (c *conj) slots(ids map[string]uint8, all []uint8) []uint8 {
	if len(c.methods) == 0 {
		return []uint8{MethodAny}
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
		return []uint8{MethodAny}
	}
	out := make([]uint8, 0, len(allowed))
	for id := range allowed {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

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
