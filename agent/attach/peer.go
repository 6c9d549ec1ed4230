package attach

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrNoPeer says an interface is not one end of a veth pair whose other end
// could be found: it fronts no single pod.
var ErrNoPeer = errors.New("not a veth whose peer can be found")

// PeerAddrs returns the addresses of the other end of a veth pair, in the
// network namespace it lives in: for the host side of a pod's veth, every
// address of the pod (link-local included). The peer's namespace is found
// among those named under /run/netns, then those of running processes.
func PeerAddrs(iface string) ([]netip.Addr, error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	if link.Type() != "veth" || link.Attrs().ParentIndex == 0 {
		return nil, fmt.Errorf("interface %s: %w", iface, ErrNoPeer)
	}
	peer, nsid := link.Attrs().ParentIndex, link.Attrs().NetNsID
	if nsid < 0 {
		return linkAddrs(nil, peer)
	}
	h, err := handleForNsid(nsid)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	defer h.Close()
	return linkAddrs(h, peer)
}

func linkAddrs(h *netlink.Handle, index int) ([]netip.Addr, error) {
	var (
		link netlink.Link
		err  error
	)
	if h == nil {
		link, err = netlink.LinkByIndex(index)
	} else {
		link, err = h.LinkByIndex(index)
	}
	if err != nil {
		return nil, fmt.Errorf("peer link %d: %w", index, err)
	}
	var addrs []netlink.Addr
	if h == nil {
		addrs, err = netlink.AddrList(link, netlink.FAMILY_ALL)
	} else {
		addrs, err = h.AddrList(link, netlink.FAMILY_ALL)
	}
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

// handleForNsid opens a netlink handle in the namespace that has the given
// id in ours.
func handleForNsid(nsid int) (*netlink.Handle, error) {
	named, _ := filepath.Glob("/run/netns/*")
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	seen := map[uint64]bool{}
	for _, path := range append(named, procs...) {
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
		if err != nil || id != nsid {
			ns.Close()
			continue
		}
		h, err := netlink.NewHandleAt(ns)
		ns.Close()
		if err != nil {
			return nil, fmt.Errorf("netlink in namespace %s: %w", path, err)
		}
		return h, nil
	}
	return nil, fmt.Errorf("%w: no namespace with id %d found (pid %d)", ErrNoPeer, nsid, os.Getpid())
}
