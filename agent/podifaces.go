package agent

import (
	"errors"
	"net"
	"net/netip"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/compiler"
)

// PodInterfaceSyncer is implemented by datapaths that police every address
// of the pod behind an interface (its link-local and secondary addresses
// too), not only the pod IPs the policy names.
type PodInterfaceSyncer interface {
	// SyncPodInterfaces records, for each interface, the policed pod behind
	// it, or that there is none. It returns a problem per interface whose
	// pod could not be found; those are policed by address only.
	SyncPodInterfaces(ifaces []string, t *compiler.Table) map[string]error
}

// ErrNoPolicedPeer: the interface's peer holds no address of a policed pod.
var ErrNoPolicedPeer = errors.New("no policed pod behind it")

// SyncPodInterfaces implements PodInterfaceSyncer for the host sides of pod
// veths: the pod is the one whose policed addresses the veth's peer holds.
func (b *BPFDatapath) SyncPodInterfaces(ifaces []string, t *compiler.Table) map[string]error {
	policed := map[netip.Addr]bool{}
	if t != nil {
		for _, e := range t.Endpoints {
			policed[e.Addr] = true
		}
	}
	problems := map[string]error{}
	for _, name := range ifaces {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			continue // not there yet: attach reports it, the next sync records it
		}
		idx := uint32(ifc.Index)
		addrs, err := attach.PeerAddrs(name)
		var pod []netip.Addr
		for _, a := range addrs {
			if policed[a] {
				pod = append(pod, a)
			}
		}
		if err == nil && len(pod) == 0 {
			err = ErrNoPolicedPeer
		}
		if err != nil {
			problems[name] = err
			if derr := b.DeletePodInterface(idx); derr != nil {
				problems[name] = errors.Join(err, derr)
			}
			continue
		}
		if err := b.SetPodInterface(datapath.PodInterface{Ifindex: idx, Addrs: pod}); err != nil {
			problems[name] = err
		}
	}
	return problems
}

// syncPodInterfaces records the pods behind the attached interfaces for
// table t, logging each interface whose state changed.
func (a *Agent) syncPodInterfaces(ifaces []string, t *compiler.Table) {
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
