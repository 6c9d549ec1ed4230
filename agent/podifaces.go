package agent

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/table"
	"github.com/vishvananda/netlink"
)

// PodInterfaceSyncer is implemented by datapaths that police every address
// of the pod behind an interface (its link-local and secondary addresses
// too), not only the pod IPs the policy names.
type PodInterfaceSyncer interface {
	// SyncPodInterfaces records the pod behind each of the node's pod
	// interfaces. It returns a problem per attached interface (ifaces)
	// whose pod could not be found; those are policed by address only.
	SyncPodInterfaces(ifaces []string, t *table.Table) map[string]error
}

// ErrNoPod: the interface is not a veth whose peer holds a known pod's address.
var ErrNoPod = errors.New("no known pod behind it")

// SyncPodInterfaces implements PodInterfaceSyncer. Every veth of the node
// whose peer holds a pod IP of t is recorded with that pod's addresses:
// attached ones so that every address of the pod is policed, all of them so
// that a pod cannot send with another pod's address (its identity). The
// problems returned are those of the attached interfaces ifaces.
func (b *BPFDatapath) SyncPodInterfaces(ifaces []string, t *table.Table) map[string]error {
	problems := map[string]error{}
	known := map[netip.Addr]bool{}
	if t != nil {
		for _, p := range t.PodIPs {
			known[p.Addr] = true
		}
	}
	peers, err := attach.LocalVethPeers()
	if err != nil {
		for _, name := range ifaces {
			problems[name] = err
		}
		return problems
	}
	// Two veths may hold one pod address (a pod's namespace lingering
	// after its IP went to a new pod, or a stale test topology): the one
	// created last, the highest ifindex (the kernel numbers interfaces in
	// creation order), owns it in pod_ifindex, since each write replaces
	// the address's owner. In map order the owner was a coin flip, and
	// the live pod's packets were dropped as spoofed_source.
	recorded := map[int]bool{}
	for _, idx := range slices.Sorted(maps.Keys(peers)) {
		peer := peers[idx]
		var pod []netip.Addr
		for _, a := range peer.Addrs {
			if known[a] {
				pod = append(pod, a)
			}
		}
		if len(pod) == 0 {
			continue
		}
		pi := datapath.PodInterface{Ifindex: uint32(idx), Addrs: pod, Netns: &peer.Netnsid, FastOpen: peer.FastOpenServer}
		if err := b.SetPodInterface(pi); err == nil {
			recorded[idx] = true
		}
	}
	if old, err := b.PodInterfaces(); err == nil {
		for idx := range old {
			if !recorded[int(idx)] {
				_ = b.DeletePodInterface(idx)
			}
		}
	}
	for _, name := range ifaces {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			continue // not there yet: attach reports it, the next sync records it
		}
		if !recorded[ifc.Index] {
			problems[name] = ErrNoPod
		}
	}
	return problems
}

// PodFastOpenRefresher is implemented by datapaths that record whether a
// pod's namespace lets servers take fast-open data.
type PodFastOpenRefresher interface {
	// RefreshPodFastOpen reads that setting again for every recorded pod.
	RefreshPodFastOpen()
}

// RefreshPodFastOpen implements PodFastOpenRefresher: a pod may turn server
// fast open on after its interface was recorded.
func (b *BPFDatapath) RefreshPodFastOpen() {
	byIface, err := b.PodNamespaces()
	if err != nil {
		return
	}
	ids := make([]int32, 0, len(byIface))
	for _, id := range byIface {
		ids = append(ids, id)
	}
	now := attach.FastOpenServers(ids)
	for idx, id := range byIface {
		if on, ok := now[id]; ok {
			_ = b.SetPodFastOpen(idx, on)
		}
	}
}

// syncPodInterfaces records the pods behind the attached interfaces for
// table t, logging each interface whose state changed.
func (a *Agent) syncPodInterfaces(ifaces []string, t *table.Table) {
	s, ok := a.dp.(PodInterfaceSyncer)
	if !ok {
		return
	}
	problems := s.SyncPodInterfaces(ifaces, t)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, name := range ifaces {
		err := problems[name]
		old, known := a.podIfaces[name]
		if known && (old == nil) == (err == nil) {
			continue
		}
		a.podIfaces[name] = err
		if err == nil {
			a.log.Info("interface fronts a policed pod: every address of the pod is policed", "interface", name)
		} else {
			a.log.Warn("interface fronts no single policed pod: traffic is policed by destination address only", "interface", name, "reason", err)
		}
	}
}

// vethsChanged says whether the node's set of veth interfaces changed since
// the last call (one netlink dump; the first call reports a change).
func (a *Agent) vethsChanged(links []netlink.Link, err error) bool {
	if err != nil {
		return false
	}
	var ids []string
	for _, l := range links {
		if l.Type() == "veth" {
			ids = append(ids, strconv.Itoa(l.Attrs().Index))
		}
	}
	now := strings.Join(ids, ",")
	a.mu.Lock()
	defer a.mu.Unlock()
	changed := now != a.veths
	a.veths = now
	return changed
}

// VerifyFlowsOn implements FlowVerifier: the server sockets of the pod
// behind ifindex, listed in its namespace, vouch for the flows of the
// interface (datapath.ForgetUnverifiedFlowsOn). Flows whose counts differ
// as bytes in flight would make them are asked about again, up to
// verifyRounds times verifyWait apart, then forgotten. Without a recorded
// pod namespace every flow there is forgotten; when the sockets cannot be
// read it fails, and the caller forgets them.
func (b *BPFDatapath) VerifyFlowsOn(ifindex uint32) (int, error) {
	byIface, err := b.PodNamespaces()
	if err != nil {
		return 0, err
	}
	id, known := byIface[ifindex]
	if !known {
		return b.ForgetFlowsOn(ifindex)
	}
	total := 0
	for round := 1; ; round++ {
		listed, err := datapath.Monotonic()
		if err != nil {
			return total, err
		}
		socks, err := attach.ServerReceived(id)
		if err != nil {
			return total, fmt.Errorf("reading the server sockets: %w", err)
		}
		n, pending, err := b.ForgetUnverifiedFlowsOn(ifindex, func(client, server netip.AddrPort) (uint64, bool) {
			r, found := socks[attach.SockPair{Local: server, Remote: client}]
			// The datapath never lets a segment through out of order to
			// an enforced endpoint: one the server got came another way,
			// and its bytes (held apart, not counted yet) were never
			// parsed.
			// A connection with two sockets: the one that answers
			// may not be the one that counted.
			return r.Bytes, found && r.OutOfOrder == 0 && !r.Ambiguous
		}, listed, round == verifyRounds)
		total += n
		if err != nil || pending == 0 {
			return total, err
		}
		time.Sleep(verifyWait)
	}
}

// A restarted agent asks the server sockets about flows with bytes in
// flight up to verifyRounds times, verifyWait apart.
const (
	verifyRounds = 4
	verifyWait   = 25 * time.Millisecond
)
