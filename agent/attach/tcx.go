package attach

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// tcxAttach is what attachTCX did: whether it adopted a pinned link,
// whether that link ran the program already, and the hook's revision
// before and after the update.
type tcxAttach struct {
	adopted, same bool
	before, after uint64
}

// inStep says whether an adopted link's hook was at revision recorded
// before the update, the update was the only change (none when the link
// ran the program already), and nothing changed between it and the check
// that read revision checked.
func (t tcxAttach) inStep(recorded, checked uint64) bool {
	step := uint64(1)
	if t.same {
		step = 0
	}
	return t.adopted && t.before == recorded && t.after == t.before+step && checked == t.after
}

// attachTCX makes prog the program of the pinned TCX link of (ifc, d),
// creating and pinning the link when there is none. An existing link is
// updated in place, which swaps the program atomically.
func attachTCX(root string, ifc *net.Interface, d Direction, prog *ebpf.Program) (tcxAttach, error) {
	path := pinName{pinTCX, d, ifc.Name}.path(root)
	if l, err := link.LoadPinnedLink(path, nil); err == nil {
		defer l.Close()
		if info, err := l.Info(); err == nil && tcxTargets(info, ifc.Index, d) {
			id, err := programID(prog)
			t := tcxAttach{adopted: true, same: err == nil && info.Program == id}
			res, err := queryTCX(ifc.Index, d)
			if err != nil {
				return tcxAttach{}, err
			}
			t.before = res.Revision
			if err := l.Update(prog); err != nil {
				return tcxAttach{}, fmt.Errorf("updating pinned link: %w", err)
			}
			if res, err = queryTCX(ifc.Index, d); err != nil {
				return tcxAttach{}, err
			}
			t.after = res.Revision
			return t, nil
		}
		// The interface was recreated since the link was pinned: the old
		// link is defunct. Replace the pin.
		if err := l.Unpin(); err != nil {
			return tcxAttach{}, fmt.Errorf("unpinning stale link: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return tcxAttach{}, fmt.Errorf("loading pinned link %s: %w", path, err)
	}
	l, err := link.AttachTCX(link.TCXOptions{
		Interface: ifc.Index,
		Program:   prog,
		Attach:    d.tcxAttachType(),
		// Run first, before other TC programs, so nothing ahead of Axon
		// can let a denied request through with TCX_NEXT semantics.
		Anchor: link.Head(),
	})
	if err != nil {
		return tcxAttach{}, err
	}
	defer l.Close()
	if err := l.Pin(path); err != nil {
		return tcxAttach{}, fmt.Errorf("pinning link: %w", err)
	}
	return tcxAttach{}, nil
}

// tcxTargets says whether a TCX link (its info) is attached to interface
// ifindex in direction d: a link of a deleted interface targets none.
func tcxTargets(info *link.Info, ifindex int, d Direction) bool {
	tcx := info.TCX()
	return tcx != nil && int(tcx.Ifindex) == ifindex && ebpf.AttachType(tcx.AttachType) == d.tcxAttachType()
}

// removeTCX detaches and unpins the TCX link of p, if any.
func removeTCX(root string, p pinName, log *slog.Logger) error {
	path := p.path(root)
	l, err := link.LoadPinnedLink(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		// Not a link we can load: remove the file so the pin goes.
		if rerr := os.Remove(path); rerr != nil {
			return fmt.Errorf("removing pin %s: %w", path, err)
		}
		return nil
	}
	defer l.Close()
	var errs []error
	if err := l.Detach(); err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
		errs = append(errs, fmt.Errorf("detaching %s: %w", p, err))
	}
	if err := l.Unpin(); err != nil {
		errs = append(errs, fmt.Errorf("unpinning %s: %w", p, err))
	}
	if len(errs) == 0 {
		log.Info("detached", "interface", p.iface, "direction", p.dir, "mode", ModeTCX)
	}
	return errors.Join(errs...)
}
