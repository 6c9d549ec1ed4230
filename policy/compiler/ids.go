package compiler

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/axon-dev/axon/policy/table"
)

// assignMethods numbers the method tokens the rules name (from 1, keeping
// the IDs of prev) and fills t.Methods.
func assignMethods(t *table.Table, names map[string]bool, prev *table.Table) (map[string]uint8, error) {
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
		if next == table.MethodAny {
			return nil, &Error{Construct: "methods", Msg: fmt.Sprintf("more than %d distinct methods", table.MethodAny-1), Kind: ErrInvalid}
		}
		ids[n] = next
		used[next] = true
	}
	for n, id := range ids {
		t.Methods = append(t.Methods, table.Method{Name: n, ID: id})
	}
	return ids, nil
}

func fillIdentities(t *table.Table, u *universe, pods []*knownPod) {
	for _, id := range u.ids[1:] {
		ti := table.Identity{ID: id.id}
		if id.pod {
			ti.Namespace, ti.Labels, ti.InCIDRs = id.ns, id.labels, id.in
		} else {
			ti.CIDR = id.prefix.String()
			t.CIDRs = append(t.CIDRs, table.CIDRIdentity{Prefix: id.prefix, Identity: id.id})
		}
		t.Identities = append(t.Identities, ti)
	}
	for _, kp := range pods {
		for i, ip := range kp.ips {
			t.PodIPs = append(t.PodIPs, table.PodIP{Addr: ip, Identity: kp.idents[i].id})
		}
	}
}

type epKey struct {
	addr netip.Addr
	port uint16
}

// endpointIDs numbers the endpoints, keeping the IDs of prev.
func endpointIDs(groups []*group, prev *table.Table) map[epKey]uint32 {
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
