package attach

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The cls_bpf filter Axon owns on each clsact hook is identified by this
// priority and handle; replacing it is atomic.
const (
	clsPriority = 1
	clsHandle   = 0xa70
)

// clsName names the filter after the pin directory so that cleanup can find
// filters whose pin records were lost without touching another agent's.
func clsName(root string) string { return "axon:" + root }

func clsParent(d Direction) uint32 {
	if d == Ingress {
		return netlink.HANDLE_MIN_INGRESS
	}
	return netlink.HANDLE_MIN_EGRESS
}

func clsFilter(root string, ifindex int, d Direction, fd int) *netlink.BpfFilter {
	return &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex,
			Parent:    clsParent(d),
			Handle:    clsHandle,
			Priority:  clsPriority,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           fd,
		Name:         clsName(root),
		DirectAction: true,
	}
}

// attachCls installs prog as Axon's cls_bpf filter on (ifc, d), adding the
// clsact qdisc if missing, and pins prog as the record of the attachment. It
// reports whether an earlier Axon filter was replaced.
func attachCls(root string, ifc *net.Interface, d Direction, prog *ebpf.Program) (bool, error) {
	qd := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: ifc.Index,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	if err := netlink.QdiscAdd(qd); err != nil && !errors.Is(err, unix.EEXIST) {
		return false, fmt.Errorf("adding clsact qdisc: %w", err)
	}
	adopted := hasAxonFilter(ifc.Index, d)
	if err := netlink.FilterReplace(clsFilter(root, ifc.Index, d, prog.FD())); err != nil {
		return false, fmt.Errorf("replacing filter: %w", err)
	}
	path := pinName{pinCls, d, ifc.Name}.path(root)
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return adopted, fmt.Errorf("removing old program pin: %w", err)
	}
	// Pin a duplicate: pinning the shared *ebpf.Program again would move
	// its pin from the previous interface to this one.
	dup, err := prog.Clone()
	if err != nil {
		return adopted, fmt.Errorf("duplicating program: %w", err)
	}
	defer dup.Close()
	if err := dup.Pin(path); err != nil {
		return adopted, fmt.Errorf("pinning program: %w", err)
	}
	return adopted, nil
}

func hasAxonFilter(ifindex int, d Direction) bool {
	lk, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return false
	}
	fs, err := netlink.FilterList(lk, clsParent(d))
	if err != nil {
		return false
	}
	for _, f := range fs {
		if isAxonFilter(f) {
			return true
		}
	}
	return false
}

func isAxonFilter(f netlink.Filter) bool {
	bf, ok := f.(*netlink.BpfFilter)
	return ok && bf.Priority == clsPriority && bf.Handle == clsHandle
}

// removeCls deletes Axon's filter on p's interface and direction and unpins
// the program record.
func removeCls(root string, p pinName, log *slog.Logger) error {
	path := p.path(root)
	var errs []error
	if lk, err := netlink.LinkByName(p.iface); err == nil {
		if hasAxonFilter(lk.Attrs().Index, p.dir) {
			if err := netlink.FilterDel(clsFilter(root, lk.Attrs().Index, p.dir, 0)); err != nil {
				errs = append(errs, fmt.Errorf("deleting filter on %s %s: %w", p.iface, p.dir, err))
			} else {
				log.Info("detached", "interface", p.iface, "direction", p.dir, "mode", ModeClsact)
			}
		}
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		errs = append(errs, fmt.Errorf("removing pin %s: %w", path, err))
	}
	return errors.Join(errs...)
}

// cleanupStrayFilters removes Axon filters on every interface of the current
// network namespace, also those whose pin records were lost.
func cleanupStrayFilters(root string, log *slog.Logger) error {
	links, err := LinkList()
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	var errs []error
	for _, lk := range links {
		for _, d := range Directions {
			if !hasNamedFilter(lk, d, clsName(root)) {
				continue
			}
			if err := netlink.FilterDel(clsFilter(root, lk.Attrs().Index, d, 0)); err != nil {
				errs = append(errs, fmt.Errorf("deleting filter on %s %s: %w", lk.Attrs().Name, d, err))
				continue
			}
			log.Info("detached", "interface", lk.Attrs().Name, "direction", d, "mode", ModeClsact)
		}
	}
	return errors.Join(errs...)
}

func hasNamedFilter(lk netlink.Link, d Direction, name string) bool {
	fs, err := netlink.FilterList(lk, clsParent(d))
	if err != nil {
		return false
	}
	for _, f := range fs {
		if isAxonFilter(f) && f.(*netlink.BpfFilter).Name == name {
			return true
		}
	}
	return false
}
