package observe

import (
	"net/netip"
	"sync"
)

// Pod is a pod as the observer needs it.
type Pod struct {
	Namespace string
	Name      string // the pod's name
	Workload  string
	IPs       []netip.Addr
	// Monitored is set when an HTTPMonitor selects the pod; its settings.
	Monitored bool
	Routes    *Template
	MaxRoutes int
	Ports     []uint16
}

// PodTable is a Resolver over a set of pods and the network namespaces
// their IPs were found in. Safe for concurrent use; Set replaces it whole.
type PodTable struct {
	mu    sync.RWMutex
	netns map[uint32]Workload
	ips   map[netip.Addr][2]string
}

// Set replaces the pods; netnsOf maps pod IPs to namespace inodes
// (NetnsOfIPs). It returns the inodes of monitored pods, for the kernel.
func (t *PodTable) Set(pods []Pod, netnsOf map[netip.Addr]uint32) map[uint32]bool {
	n := map[uint32]Workload{}
	ips := map[netip.Addr][2]string{}
	mon := map[uint32]bool{}
	for _, p := range pods {
		for _, ip := range p.IPs {
			ips[ip.Unmap()] = [2]string{p.Namespace, p.Workload}
			if ino, ok := netnsOf[ip.Unmap()]; ok && p.Monitored {
				n[ino] = Workload{Namespace: p.Namespace, Name: p.Workload, Routes: p.Routes, MaxRoutes: p.MaxRoutes, Ports: p.Ports}
				mon[ino] = true
			}
		}
	}
	t.mu.Lock()
	t.netns, t.ips = n, ips
	t.mu.Unlock()
	return mon
}

// ByNetns implements Resolver.
func (t *PodTable) ByNetns(inum uint32) (Workload, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	w, ok := t.netns[inum]
	return w, ok
}

// ByIP implements Resolver.
func (t *PodTable) ByIP(ip netip.Addr) (string, string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v, ok := t.ips[ip.Unmap()]
	return v[0], v[1], ok
}
