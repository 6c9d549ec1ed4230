package attach

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// ErrDetached is returned by Check when an attachment is gone, e.g. because
// the interface was deleted and recreated.
var ErrDetached = errors.New("program no longer attached")

// Check reports, for each interface and direction, whether progs is still
// attached there as Attach left it. It changes nothing.
func (a *Attacher) Check(ifaces []string, progs Programs) []Attachment {
	a.mu.Lock()
	defer a.mu.Unlock()
	mode := a.mode
	var out []Attachment
	for _, name := range ifaces {
		for _, d := range Directions {
			at := Attachment{Interface: name, Direction: d, Mode: mode}
			at.Err = a.checkOne(mode, name, d, progs.forDir(d))
			if at.Err != nil {
				at.Mode = ""
			}
			out = append(out, at)
		}
	}
	return out
}

func (a *Attacher) checkOne(mode Mode, name string, d Direction, prog *ebpf.Program) error {
	if prog == nil {
		return ErrNoProgram
	}
	want, err := programID(prog)
	if err != nil {
		return err
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoInterface, err)
	}
	switch mode {
	case ModeTCX:
		l, err := link.LoadPinnedLink(pinName{pinTCX, d, name}.path(a.cfg.PinDir), nil)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrDetached, err)
		}
		defer l.Close()
		info, err := l.Info()
		if err != nil || info.Program != want || !sameTCXTarget(l, ifc.Index, d) {
			return ErrDetached
		}
		return nil
	case ModeClsact:
		lk, err := netlink.LinkByIndex(ifc.Index)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNoInterface, err)
		}
		fs, err := netlink.FilterList(lk, clsParent(d))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrDetached, err)
		}
		for _, f := range fs {
			if isAxonFilter(f) && ebpf.ProgramID(f.(*netlink.BpfFilter).Id) == want {
				return nil
			}
		}
		return ErrDetached
	}
	return ErrDetached
}

func programID(p *ebpf.Program) (ebpf.ProgramID, error) {
	info, err := p.Info()
	if err != nil {
		return 0, fmt.Errorf("program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("program ID not available")
	}
	return id, nil
}
