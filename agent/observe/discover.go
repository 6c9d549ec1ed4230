package observe

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NetnsOfIPs finds, for each IP, the network namespace (inode) that has an
// interface holding it: it looks at every namespace named under /run/netns
// and every namespace a process is in (/proc/*/ns/net), skipping the host's
// own. IPs found nowhere are missing from the result.
func NetnsOfIPs(ips []netip.Addr) (map[netip.Addr]uint32, error) {
	where, _, err := newNetnsFinder().find(ips) // a new finder has nothing cached: it scans
	return where, err
}

// nsPlace is where an IP's namespace was found: a path to it and its inode.
type nsPlace struct {
	path string
	ino  uint32
}

// scanNetns finds what NetnsOfIPs does, with the path each namespace was
// found at.
func scanNetns(ips []netip.Addr) (map[netip.Addr]nsPlace, error) {
	want := map[netip.Addr]bool{}
	for _, ip := range ips {
		want[ip.Unmap()] = true
	}
	out := map[netip.Addr]nsPlace{}
	if len(want) == 0 {
		return out, nil
	}
	host, err := inodeOf("/proc/self/ns/net")
	if err != nil {
		return nil, err
	}
	seen := map[uint32]bool{host: true}
	var paths []string
	named, _ := filepath.Glob("/run/netns/*")
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	paths = append(append(paths, named...), procs...)
	for _, p := range paths {
		ino, err := inodeOf(p)
		if err != nil || seen[ino] {
			continue
		}
		addrs, err := addrsIn(p)
		if err != nil {
			// The process exited or the namespace went away, or the
			// dump failed: the namespace stays unseen, so another path
			// to it (a process in it) is still tried.
			continue
		}
		seen[ino] = true
		for _, a := range addrs {
			if want[a] {
				out[a] = nsPlace{p, ino}
			}
		}
		if len(out) == len(want) {
			break
		}
	}
	return out, nil
}

// fullScanEvery bounds how long a netnsFinder trusts what it found.
const fullScanEvery = 30 * time.Second

// netnsFinder is NetnsOfIPs for a periodic refresh: it keeps where it found
// each IP and, while the same IPs are asked, all were found and each of
// their namespaces is still at its path (one stat each), answers that
// instead of listing the addresses of every namespace of the node again. It
// scans when an IP is new or was not found, a namespace is gone or another
// one is at its path, and at least every fullScanEvery (an address moved
// between namespaces that both still exist).
type netnsFinder struct {
	found map[netip.Addr]nsPlace
	at    time.Time // of the last scan
	now   func() time.Time
	stat  func(path string) (uint32, error)
}

func newNetnsFinder() *netnsFinder { return &netnsFinder{now: time.Now, stat: inodeOf} }

// find returns the namespace inode of each IP of ips that has one, and
// whether it had to scan.
func (n *netnsFinder) find(ips []netip.Addr) (map[netip.Addr]uint32, bool, error) {
	if out, ok := n.cached(ips); ok {
		return out, false, nil
	}
	found, err := scanNetns(ips)
	if err != nil {
		return nil, true, err
	}
	n.found, n.at = found, n.now()
	out := make(map[netip.Addr]uint32, len(found))
	for ip, f := range found {
		out[ip] = f.ino
	}
	return out, true, nil
}

// cached answers from the last scan if it still holds.
func (n *netnsFinder) cached(ips []netip.Addr) (map[netip.Addr]uint32, bool) {
	if n.found == nil || n.now().Sub(n.at) >= fullScanEvery {
		return nil, false
	}
	out := make(map[netip.Addr]uint32, len(ips))
	checked := map[string]bool{}
	for _, ip := range ips {
		f, ok := n.found[ip.Unmap()]
		if !ok {
			return nil, false
		}
		if !checked[f.path] {
			if ino, err := n.stat(f.path); err != nil || ino != f.ino {
				return nil, false
			}
			checked[f.path] = true
		}
		out[ip.Unmap()] = f.ino
	}
	return out, true
}

func inodeOf(path string) (uint32, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return uint32(st.Ino), nil
}

// addrsIn lists the interface addresses of the namespace at path through
// netlink, without switching threads. A dump that fails (netlink reports a
// dump that addresses changed during as interrupted) is tried again: a pod
// missed here goes unobserved until the next refresh.
func addrsIn(path string) (addrs []netip.Addr, err error) {
	for range 3 {
		if addrs, err = addrsOnce(path); err == nil || os.IsNotExist(err) {
			break
		}
	}
	return addrs, err
}

func addrsOnce(path string) ([]netip.Addr, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := netlink.NewHandleAt(netns.NsHandle(int(f.Fd())))
	if err != nil {
		return nil, err
	}
	defer h.Close()
	list, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}
