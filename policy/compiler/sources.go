package compiler

import (
	"math/bits"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/axon-dev/axon/policy/table"
)

// bitset is a set of identity indexes.
type bitset []uint64

func newBitset(n int, full bool) bitset {
	b := make(bitset, (n+63)/64)
	if full {
		for i := range b {
			b[i] = ^uint64(0)
		}
		if r := n % 64; r != 0 {
			b[len(b)-1] = 1<<r - 1
		}
	}
	return b
}

func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// each calls f for every member in increasing order.
func (b bitset) each(f func(int)) {
	for wi, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			f(wi*64 + t)
			w &= w - 1
		}
	}
}

// universe is the list of source identities, world first, then by ID.
type universe struct {
	ids   []*ident
	atoms map[string][2]bitset // atom key -> (mixed counted false, mixed counted true)
	conjs map[string]bitset    // srcKey -> identities the conjunction selects
}

// buildUniverse makes the identities: the world, one per CIDR trie entry and
// one per pod (namespace, labels, CIDRs containing the IP), where the CIDRs
// are those of cidrs (every CIDR some rule tests) that contain the pod IP:
// a Deny ipBlock matches the pod IPs inside it, so pods with the same labels
// inside and outside it need different identities. IDs are kept from prev
// when it has them.
func buildUniverse(pods []*knownPod, cidrs map[netip.Prefix]bool, prev *table.Table) *universe {
	sortedCIDRs := make([]netip.Prefix, 0, len(cidrs))
	for p := range cidrs {
		sortedCIDRs = append(sortedCIDRs, p)
	}
	slices.SortFunc(sortedCIDRs, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	byKey := map[string]*ident{}
	for _, kp := range pods {
		kp.idents = make([]*ident, len(kp.ips))
		for i, ip := range kp.ips {
			var in []string
			for _, p := range sortedCIDRs {
				if p.Contains(ip) {
					in = append(in, p.String())
				}
			}
			k := podIdentKey(kp.ns, kp.labels, in)
			id, ok := byKey[k]
			if !ok {
				id = &ident{key: k, pod: true, ns: kp.ns, labels: kp.labels, in: in}
				byKey[k] = id
			}
			id.ips = append(id.ips, ip)
			kp.idents[i] = id
		}
	}
	for p := range cidrs {
		k := "cidr:" + p.String()
		byKey[k] = &ident{key: k, prefix: p}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	next := table.FirstAllocatedIdentity
	if prev != nil {
		old := map[string]uint32{}
		for _, id := range prev.Identities {
			k := "cidr:" + id.CIDR
			if id.CIDR == "" {
				k = podIdentKey(id.Namespace, id.Labels, id.InCIDRs)
			}
			old[k] = id.ID
			next = max(next, id.ID+1)
		}
		for _, k := range keys {
			byKey[k].id = old[k]
		}
	}
	u := &universe{ids: []*ident{{id: table.IdentityWorld, key: "world"}}, atoms: map[string][2]bitset{}, conjs: map[string]bitset{}}
	for _, k := range keys {
		id := byKey[k]
		if id.id == 0 {
			id.id = next
			next++
		}
		u.ids = append(u.ids, id)
	}
	slices.SortFunc(u.ids[1:], func(a, b *ident) int { return int(a.id) - int(b.id) })
	return u
}

// eval returns whether the atom holds for the identity; mixed is true when it
// holds for some but not all IPs of a pod identity (CIDR tests only).
func (a *srcAtom) eval(id *ident) (v, mixed bool) {
	switch a.kind {
	case srcIsPod:
		v = id.pod
	case srcNamespace:
		_, in := slices.BinarySearch(a.values, id.ns)
		v = id.pod && in
	case srcLabel:
		l, ok := id.labels[a.key]
		v = id.pod && ok && l == a.values[0]
	case srcLabelIn:
		l, ok := id.labels[a.key]
		_, in := slices.BinarySearch(a.values, l)
		v = id.pod && ok && in
	case srcHasLabel:
		_, ok := id.labels[a.key]
		v = id.pod && ok
	case srcCIDR:
		switch {
		case id.pod:
			n := 0
			for _, ip := range id.ips {
				if a.prefix.Contains(ip) {
					n++
				}
			}
			v = n == len(id.ips)
			mixed = n > 0 && n < len(id.ips)
		case id.prefix.IsValid():
			v = a.prefix.Bits() <= id.prefix.Bits() && a.prefix.Contains(id.prefix.Addr())
		}
	}
	return v != a.neg, mixed
}

func (u *universe) atomBits(a *srcAtom) [2]bitset {
	k := a.String()
	if b, ok := u.atoms[k]; ok {
		return b
	}
	lo, hi := newBitset(len(u.ids), false), newBitset(len(u.ids), false)
	for i, id := range u.ids {
		v, mixed := a.eval(id)
		if v {
			lo.set(i)
		}
		if v || mixed {
			hi.set(i)
		}
	}
	b := [2]bitset{lo, hi}
	u.atoms[k] = b
	return b
}

// sources returns the identities a conjunction's source tests select; it is
// an error when a CIDR test splits the IPs of a pod identity that the other
// tests select.
func (u *universe) sources(c *conj) (bitset, error) {
	if b, ok := u.conjs[c.srcKey]; ok {
		return b, nil
	}
	lo, hi := newBitset(len(u.ids), true), newBitset(len(u.ids), true)
	for i := range c.src {
		ab := u.atomBits(&c.src[i])
		for w := range lo {
			lo[w] &= ab[0][w]
			hi[w] &= ab[1][w]
		}
	}
	for w := range lo {
		if lo[w] != hi[w] {
			for i := range c.src {
				if c.src[i].kind == srcCIDR {
					e := &Error{Construct: "net.cidr_contains(\"" + c.src[i].prefix.String() + "\", input.source.ip)", Msg: "the CIDR contains some but not all IPs of pods with the same labels", Hint: "select pods by labels, or require `not input.source.namespace` for external sources", Kind: ErrUnsupported}
					if l := c.src[i].loc; l != nil {
						e.File, e.Line = l.File, l.Row
					}
					return nil, e
				}
			}
		}
	}
	u.conjs[c.srcKey] = lo
	return lo, nil
}
