package observe

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NetnsOfIPs finds, for each IP, the network namespace (inode) that has an
// interface holding it: it looks at every namespace named under /run/netns
// and every namespace a process is in (/proc/*/ns/net), skipping the host's
// own. IPs found nowhere are missing from the result.
func NetnsOfIPs(ips []netip.Addr) (map[netip.Addr]uint32, error) {
	want := map[netip.Addr]bool{}
	for _, ip := range ips {
		want[ip.Unmap()] = true
	}
	out := map[netip.Addr]uint32{}
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
				out[a] = ino
			}
		}
		if len(out) == len(want) {
			break
		}
	}
	return out, nil
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
