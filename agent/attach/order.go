package attach

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// ErrNotFirst is returned when another program or filter runs ahead of
// Axon's on an interface: its verdict (TCX_PASS, TC_ACT_OK, a filter's
// action) can end the chain, so that Axon's program never sees the packets
// and the flows it keeps no longer know where their streams stand. The
// interface is then not enforced.
var ErrNotFirst = errors.New("another program runs ahead of Axon's")

// firstTCX checks that program want runs first among the TCX programs of
// interface ifindex in direction d, and returns the hook's revision (the
// kernel bumps it at every attach, detach or replacement there).
func firstTCX(ifindex int, d Direction, want ebpf.ProgramID) (uint64, error) {
	res, err := queryTCX(ifindex, d)
	if err != nil {
		return 0, err
	}
	if len(res.Programs) == 0 {
		return 0, ErrDetached
	}
	if first := res.Programs[0].ID; first != want {
		return 0, fmt.Errorf("%w: program %d (remove it, or attach it after Axon's)", ErrNotFirst, first)
	}
	return res.Revision, nil
}

// queryTCX lists the TCX programs of interface ifindex in direction d, in
// the order they run, with the hook's revision.
func queryTCX(ifindex int, d Direction) (*link.QueryResult, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: d.tcxAttachType()})
	if err != nil {
		return nil, fmt.Errorf("listing the interface's tcx programs: %w", err)
	}
	return res, nil
}

// firstCls checks that Axon's filter, running program want, is the first
// of fs, the filters of one clsact hook: none has a lower priority number,
// and none of its own priority is listed before it (cls_bpf runs a
// priority's filters in the order the kernel lists them). Entries without
// a handle are the priorities' own headers, not filters.
func firstCls(fs []netlink.Filter, want ebpf.ProgramID) error {
	var first netlink.Filter
	for _, f := range fs {
		if f.Attrs().Handle == 0 {
			continue
		}
		if first == nil || f.Attrs().Priority < first.Attrs().Priority {
			first = f
		}
	}
	if first == nil {
		return ErrDetached
	}
	if bf, ok := first.(*netlink.BpfFilter); !ok || !isAxonFilter(first) || ebpf.ProgramID(bf.Id) != want {
		return fmt.Errorf("%w: %s filter at priority %d, handle %#x (remove it, or give it a priority after Axon's %d)",
			ErrNotFirst, first.Type(), first.Attrs().Priority, first.Attrs().Handle, clsPriority)
	}
	return nil
}

// noTCX checks that no TCX program runs on interface ifindex in direction
// d: the kernel runs them before every clsact filter, and one that ends
// the chain (TCX_PASS) keeps Axon's filter from seeing the packet. A kernel
// without TCX has none.
func noTCX(ifindex int, d Direction) error {
	res, err := queryTCX(ifindex, d)
	if err != nil || len(res.Programs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: tcx program %d runs before every clsact filter (remove it, or run Axon with --attach-mode tcx)", ErrNotFirst, res.Programs[0].ID)
}
