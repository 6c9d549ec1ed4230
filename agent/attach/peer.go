package attach

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// VethPeer is the far end of a veth of this network namespace.
type VethPeer struct {
	Addrs []netip.Addr
	// Netnsid is the id of the peer's network namespace in this one (the
	// veth's link-netnsid); negative: this namespace.
	Netnsid int32
	// FastOpenServer: that namespace lets servers take fast-open data
	// (net.ipv4.tcp_fastopen bit 0x2; true if it could not be read).
	FastOpenServer bool
}

// LocalVethPeers returns, for every veth of this network namespace whose
// peer could be found, the peer, by the local end's ifindex: for a node,
// its pods by the host side of their veths.
func LocalVethPeers() (map[int]VethPeer, error) {
	links, err := LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	return vethPeers(links)
}

// vethPeers is LocalVethPeers for the given links; links that are not veths
// or whose peer's namespace is not found are left out. The peers'
// namespaces are found among those named under /run/netns, then those of
// running processes, each opened once.
func vethPeers(links []netlink.Link) (map[int]VethPeer, error) {
	out := map[int]VethPeer{}
	wanted := map[int]bool{}
	for _, l := range links {
		if l.Type() == "veth" && l.Attrs().ParentIndex != 0 && l.Attrs().NetNsID >= 0 {
			wanted[l.Attrs().NetNsID] = true
		}
	}
	handles, fastOpen, err := handlesForNsids(wanted)
	if err != nil {
		return nil, err
	}
	ownFastOpen := fastOpenServer(netns.None())
	defer func() {
		for _, h := range handles {
			h.Close()
		}
	}()
	for _, l := range links {
		a := l.Attrs()
		if l.Type() != "veth" || a.ParentIndex == 0 {
			continue
		}
		var h *netlink.Handle
		if a.NetNsID >= 0 {
			if h = handles[a.NetNsID]; h == nil {
				continue
			}
		}
		addrs, err := linkAddrs(h, a.ParentIndex)
		if err != nil {
			continue // gone meanwhile
		}
		p := VethPeer{Addrs: addrs, Netnsid: -1, FastOpenServer: ownFastOpen}
		if a.NetNsID >= 0 {
			p.Netnsid, p.FastOpenServer = int32(a.NetNsID), fastOpen[a.NetNsID]
		}
		out[a.Index] = p
	}
	return out, nil
}

func linkAddrs(h *netlink.Handle, index int) ([]netip.Addr, error) {
	if h == nil {
		var err error
		if h, err = netlink.NewHandle(); err != nil {
			return nil, err
		}
		defer h.Close()
	}
	link, err := h.LinkByIndex(index)
	if err != nil {
		return nil, fmt.Errorf("peer link %d: %w", index, err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("addresses of peer link %d: %w", index, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// handlesForNsids opens a netlink handle in each namespace that has one of
// the wanted ids in ours, and says whether it lets servers take fast-open
// data.
func handlesForNsids(wanted map[int]bool) (map[int]*netlink.Handle, map[int]bool, error) {
	out := map[int]*netlink.Handle{}
	fastOpen := map[int]bool{}
	err := scanNetns(wanted, func(id int, path string, ns netns.NsHandle) error {
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			return fmt.Errorf("netlink in namespace %s: %w", path, err)
		}
		out[id] = h
		fastOpen[id] = fastOpenServer(ns)
		return nil
	})
	if err != nil {
		for _, h := range out {
			h.Close()
		}
		return nil, nil, err
	}
	return out, fastOpen, nil
}

// scanNetns finds the namespaces that have one of the wanted ids in ours,
// among those named under /run/netns, then those of running processes (each
// opened once), and calls found with each (its handle is closed after),
// remembering where it was found (nsPaths). It stops at found's first error.
func scanNetns(wanted map[int]bool, found func(id int, path string, ns netns.NsHandle) error) error {
	if len(wanted) == 0 {
		return nil
	}
	named, _ := filepath.Glob("/run/netns/*")
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	seen := map[uint64]bool{}
	done := map[int]bool{}
	for _, path := range append(named, procs...) {
		if len(done) == len(wanted) {
			break
		}
		var st unix.Stat_t
		if unix.Stat(path, &st) != nil || seen[st.Ino] {
			continue
		}
		seen[st.Ino] = true
		ns, err := netns.GetFromPath(path)
		if err != nil {
			continue
		}
		id, err := netlink.GetNetNsIdByFd(int(ns))
		if err != nil || !wanted[id] || done[id] {
			ns.Close()
			continue
		}
		done[id] = true
		nsPaths.remember(int32(id), path, st.Ino)
		err = found(id, path, ns)
		ns.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
