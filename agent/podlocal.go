package agent

import (
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/axon-dev/axon/agent/attach"
)

// refreshPodInterfaces finds the host-side interface of every local pod of a
// NodeSource (cluster mode) and makes the attached set the --attach
// interfaces plus those: the new ones are attached, the attachments of the
// ones whose pod went are removed. Standalone, it does nothing.
func (a *Agent) refreshPodInterfaces() {
	if a.node == nil || a.dp == nil {
		return
	}
	// The reload loop and the attachment checker both call this.
	a.refreshMu.Lock()
	defer a.refreshMu.Unlock()
	ips := a.node.LocalPodIPs()
	found, err := podInterfaces(ips)
	if err != nil {
		// Nothing is detached on a failed look: a pod keeps its attachment.
		a.log.Error("finding the interfaces of this node's pods", "error", err)
		return
	}
	a.mu.Lock()
	prev := a.podIfaceOf
	a.mu.Unlock()
	var unresolved []netip.Addr
	byIP := map[netip.Addr]string{}
	for _, ip := range ips {
		name, ok := found[ip]
		if !ok {
			// A pod whose address moved off its veth (or whose peer cannot
			// be read now) keeps the interface it had while that exists:
			// a pod must not lift its own enforcement.
			if old, had := prev[ip]; had && interfaceExists(old) {
				name, ok = old, true
			}
		}
		if !ok {
			unresolved = append(unresolved, ip)
			continue
		}
		byIP[ip] = name
	}
	want := slices.Clone(a.cfg.Interfaces)
	for _, n := range byIP {
		if !slices.Contains(want, n) {
			want = append(want, n)
		}
	}
	slices.Sort(want)

	a.mu.Lock()
	if len(unresolved) != a.unresolved {
		if len(unresolved) > 0 {
			a.log.Error("NOT ENFORCING in front of some pods of this node: no interface here holds their IPs", "pod_ips", unresolved)
		} else if a.unresolved > 0 {
			a.log.Info("every pod of this node has its interface")
		}
	}
	a.unresolved = len(unresolved)
	a.podIfaceOf = byIP
	have := slices.Clone(a.ifaces)
	slices.Sort(have)
	if slices.Equal(have, want) {
		a.mu.Unlock()
		a.updateEnforcing()
		return
	}
	var added, removed []string
	for _, n := range want {
		if !slices.Contains(have, n) {
			added = append(added, n)
			for _, d := range attach.Directions {
				a.attachErrs[n+"/"+string(d)] = ErrNotAttached
			}
		}
	}
	for _, n := range have {
		if !slices.Contains(want, n) {
			removed = append(removed, n)
			for _, d := range attach.Directions {
				key := n + "/" + string(d)
				delete(a.attachErrs, key)
				if mode, ok := a.attachMode[key]; ok {
					a.m.Attached.DeleteLabelValues(n, string(d), mode)
					delete(a.attachMode, key)
				}
			}
			delete(a.podIfaces, n)
		}
	}
	a.ifaces = want
	a.mu.Unlock()

	for _, n := range removed {
		a.log.Info("pod interface gone from this node: detaching", "interface", n)
	}
	if len(removed) > 0 {
		gone, err := a.att.Prune(a.interfaces())
		a.m.Pruned.Add(float64(len(gone)))
		if err != nil {
			a.log.Error("removing the attachments of gone pods", "error", err)
		}
	}
	if len(added) > 0 {
		a.log.Info("attaching in front of local pods", "interfaces", added)
		a.attach(added)
	} else {
		a.syncPodInterfaces(a.interfaces(), a.Table())
		a.updateEnforcing()
	}
}

// unresolvedPods is the number of local pods whose interface was not found.
func (a *Agent) unresolvedPods() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unresolved
}

// podInterfaces returns the host-side interface of each pod IP it finds:
// the veth of this namespace whose peer holds the IP (bridged pods too);
// failing that, the veth the route to the IP goes through (CNIs that route
// each pod IP to its veth, with the peer in a namespace this process cannot
// open).
func podInterfaces(ips []netip.Addr) (map[netip.Addr]string, error) {
	out := map[netip.Addr]string{}
	if len(ips) == 0 {
		return out, nil
	}
	peers, err := attach.LocalVethPeers()
	if err != nil {
		return nil, err
	}
	byIP := map[netip.Addr]int{}
	for idx, peer := range peers {
		for _, ip := range peer.Addrs {
			byIP[ip] = idx
		}
	}
	for _, ip := range ips {
		idx, ok := byIP[ip]
		if !ok {
			idx, ok = routedVeth(ip)
		}
		if !ok {
			continue
		}
		if ifc, err := net.InterfaceByIndex(idx); err == nil {
			out[ip] = ifc.Name
		}
	}
	return out, nil
}

func interfaceExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// routedVeth returns the ifindex of the veth the route to ip leaves by.
func routedVeth(ip netip.Addr) (int, bool) {
	routes, err := netlink.RouteGet(ip.AsSlice())
	if err != nil || len(routes) == 0 {
		return 0, false
	}
	l, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil || l.Type() != "veth" {
		return 0, false
	}
	return l.Attrs().Index, true
}
