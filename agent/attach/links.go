package attach

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// dumpRetries bounds how often a dump interrupted by a concurrent change
// of the interface list is taken again.
const dumpRetries = 10

// LinkList lists the interfaces of the current network namespace. A dump
// the kernel marks interrupted (an interface came or went meanwhile, so
// the list may be incomplete) is taken again; a list that stays
// inconsistent is an error, never a silently partial list.
func LinkList() ([]netlink.Link, error) {
	var err error
	for range dumpRetries {
		var links []netlink.Link
		links, err = netlink.LinkList()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return links, err
		}
	}
	return nil, err
}
