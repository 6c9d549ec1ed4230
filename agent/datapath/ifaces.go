package datapath

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
)

// PodInterface says which pod an interface fronts: every packet that leaves
// it towards the pod reaches that pod's stack, whatever its destination
// address (link-local, secondary), so the datapath polices it as the pod;
// and a packet with the pod's address as its source that did not come in
// through it is not the pod's (spoofed_source).
type PodInterface struct {
	Ifindex uint32
	// Addrs are the pod's addresses as the policy knows them (pod IPs):
	// at most one IPv4 and one IPv6 address is used.
	Addrs []netip.Addr
	// Netns says where the pod's sockets are, if known: the id of the
	// pod's network namespace in the datapath's (the veth's
	// link-netnsid), or a negative number for the datapath's own. The
	// datapath looks up the server's socket of a SYN-ACK there
	// (bpf/include/server_sock.h); nil: it does not.
	Netns *int32
	// FastOpen says the pod's namespace lets servers take fast-open data
	// (net.ipv4.tcp_fastopen has bit 0x2). A SYN-ACK whose server socket
	// the datapath cannot find there (a listener bound to a device, a
	// link-local peer, SYN cookies) then makes a flow that is refused.
	FastOpen bool
}

// SetPodInterface records the pod behind an interface. Call it before the
// programs are attached to the interface.
func (d *Datapath) SetPodInterface(pi PodInterface) error {
	var v bpf.AxonAxIface
	for _, a := range pi.Addrs {
		switch {
		case a.Is4() && v.HasV4 == 0:
			v.Addr4, v.HasV4 = addr16(a), 1
		case a.Is6() && !a.Is4In6() && v.HasV6 == 0:
			v.Addr6, v.HasV6 = addr16(a), 1
		}
	}
	if v.HasV4 == 0 && v.HasV6 == 0 {
		return fmt.Errorf("interface %d: no pod address", pi.Ifindex)
	}
	if pi.Netns != nil {
		v.HasNetns, v.Netnsid = 1, *pi.Netns
	}
	if pi.FastOpen {
		v.Fastopen = 1
	}
	if err := d.objs.Ifaces.Put(pi.Ifindex, v); err != nil {
		return fmt.Errorf("writing interface %d: %w", pi.Ifindex, err)
	}
	for _, a := range podAddrs(v) {
		if err := d.objs.PodIfindex.Put(a, pi.Ifindex); err != nil {
			return fmt.Errorf("writing the interface of pod address %v: %w", netip.AddrFrom16(a).Unmap(), err)
		}
	}
	return nil
}

// podAddrs are the recorded addresses of an interface's pod.
func podAddrs(v bpf.AxonAxIface) [][16]byte {
	var out [][16]byte
	if v.HasV4 == 1 {
		out = append(out, v.Addr4)
	}
	if v.HasV6 == 1 {
		out = append(out, v.Addr6)
	}
	return out
}

// DeletePodInterface forgets the pod behind an interface (gone, or no
// longer attached). Deleting an unknown interface is not an error.
func (d *Datapath) DeletePodInterface(ifindex uint32) error {
	var v bpf.AxonAxIface
	if err := d.objs.Ifaces.Lookup(ifindex, &v); err == nil {
		for _, a := range podAddrs(v) {
			var owner uint32
			if d.objs.PodIfindex.Lookup(a, &owner) == nil && owner == ifindex {
				if err := d.objs.PodIfindex.Delete(a); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
					return fmt.Errorf("deleting pod address of interface %d: %w", ifindex, err)
				}
			}
		}
	}
	if err := d.objs.Ifaces.Delete(ifindex); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("deleting interface %d: %w", ifindex, err)
	}
	return nil
}

// PodAddressOwner is the interface recorded as the only source of pod
// address a (false: none).
func (d *Datapath) PodAddressOwner(a netip.Addr) (uint32, bool, error) {
	var owner uint32
	err := d.objs.PodIfindex.Lookup(addr16(a), &owner)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading the interface of pod address %v: %w", a, err)
	}
	return owner, true, nil
}

// PodInterfaces lists the interfaces with a pod recorded.
func (d *Datapath) PodInterfaces() (map[uint32]bool, error) {
	out := map[uint32]bool{}
	var k uint32
	var v bpf.AxonAxIface
	it := d.objs.Ifaces.Iterate()
	for it.Next(&k, &v) {
		out[k] = true
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading interfaces: %w", err)
	}
	return out, nil
}

// PodNamespaces lists the pod interfaces whose pod's network namespace is
// recorded, with the namespace's id (PodInterface.Netns).
func (d *Datapath) PodNamespaces() (map[uint32]int32, error) {
	out := map[uint32]int32{}
	var k uint32
	var v bpf.AxonAxIface
	it := d.objs.Ifaces.Iterate()
	for it.Next(&k, &v) {
		if v.HasNetns == 1 {
			out[k] = v.Netnsid
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading interfaces: %w", err)
	}
	return out, nil
}

// SetPodFastOpen records whether the namespace of the pod behind ifindex
// lets servers take fast-open data (PodInterface.FastOpen), if the
// interface is recorded.
func (d *Datapath) SetPodFastOpen(ifindex uint32, on bool) error {
	var v bpf.AxonAxIface
	if err := d.objs.Ifaces.Lookup(ifindex, &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		return fmt.Errorf("reading interface %d: %w", ifindex, err)
	}
	want := uint8(0)
	if on {
		want = 1
	}
	if v.Fastopen == want {
		return nil
	}
	v.Fastopen = want
	if err := d.objs.Ifaces.Update(ifindex, v, ebpf.UpdateExist); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("writing interface %d: %w", ifindex, err)
	}
	return nil
}
