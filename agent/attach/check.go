package attach

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// ErrDetached is returned by Check when an attachment is gone, e.g. because
// the interface was deleted and recreated.
var ErrDetached = errors.New("program no longer attached")

// Check reports, for each interface and direction, whether progs is still
// attached there as Attach left it. It changes nothing. It lists the node's
// interfaces once and asks each program its ID once: looking interfaces up
// one by one would dump every link of the node for each of them, every
// second (the agent checks that often), which grows with the square of the
// number of pods.
func (a *Attacher) Check(ifaces []string, progs Programs) []Attachment {
	links, err := LinkList()
	return a.CheckLinks(links, err, ifaces, progs)
}

// CheckLinks is Check on a link list the caller took (LinkList and its
// error), so that one dump serves every periodic check.
func (a *Attacher) CheckLinks(links []netlink.Link, listErr error, ifaces []string, progs Programs) []Attachment {
	a.mu.Lock()
	defer a.mu.Unlock()
	mode := a.mode
	byName := make(map[string]netlink.Link, len(links))
	for _, l := range links {
		byName[l.Attrs().Name] = l
	}
	type wantID struct {
		id  ebpf.ProgramID
		err error
	}
	want := map[Direction]wantID{}
	for _, d := range Directions {
		if p := progs.forDir(d); p == nil {
			want[d] = wantID{err: ErrNoProgram}
		} else {
			id, err := programID(p)
			want[d] = wantID{id, err}
		}
	}
	if listErr == nil {
		a.forgetRevisionsOfGone(links)
	}
	var out []Attachment
	for _, name := range ifaces {
		for _, d := range Directions {
			at := Attachment{Interface: name, Direction: d, Mode: mode}
			switch l, ok := byName[name]; {
			case want[d].err != nil:
				at.Err = want[d].err
			case listErr != nil:
				at.Err = fmt.Errorf("%w: %v", ErrNoInterface, listErr)
			case !ok:
				at.Err = fmt.Errorf("%w: %s: no such network interface", ErrNoInterface, name)
			default:
				at.ifindex = l.Attrs().Index
				at.revision, at.HookChanged, at.Err = a.checkOwn(mode, l, d, want[d].id)
			}
			if at.Err != nil {
				at.Mode = ""
			}
			out = append(out, at)
		}
	}
	return out
}

// checkOwn is checkOne for this agent's own attachment. For TCX it also
// says whether the hook's revision moved since it was last recorded, or
// none was (an attach whose flows could not be forgotten): the caller
// forgets the flows through the hook, then records the revision
// (RecordRevisions).
func (a *Attacher) checkOwn(mode Mode, lk netlink.Link, d Direction, want ebpf.ProgramID) (rev uint64, changed bool, err error) {
	rev, err = a.checkOne(mode, lk, d, want)
	if err != nil || mode != ModeTCX {
		return 0, false, err
	}
	prev, had := a.recordedRevision(lk.Attrs().Index, d)
	return rev, !had || prev != rev, nil
}

// checkOne checks the attachment of the program with ID want to link lk
// (from this round's link list) in direction d. For TCX it returns the
// hook's revision.
func (a *Attacher) checkOne(mode Mode, lk netlink.Link, d Direction, want ebpf.ProgramID) (uint64, error) {
	switch mode {
	case ModeTCX:
		l, err := link.LoadPinnedLink(pinName{pinTCX, d, lk.Attrs().Name}.path(a.cfg.PinDir), nil)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrDetached, err)
		}
		defer l.Close()
		info, err := l.Info()
		if err != nil || info.Program != want || !tcxTargets(info, lk.Attrs().Index, d) {
			return 0, ErrDetached
		}
		return firstTCX(lk.Attrs().Index, d, want)
	case ModeClsact:
		fs, err := netlink.FilterList(lk, clsParent(d))
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrDetached, err)
		}
		for _, f := range fs {
			if isAxonFilter(f) && ebpf.ProgramID(f.(*netlink.BpfFilter).Id) == want {
				if err := noTCX(lk.Attrs().Index, d); err != nil {
					return 0, err
				}
				return 0, firstCls(fs, want)
			}
		}
		return 0, ErrDetached
	}
	return 0, ErrDetached
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

// InPlace reports whether the TCX attachment an earlier agent left under
// the same pin directory runs first on both directions of interface name,
// and nothing was attached to, detached from or replaced on those hooks
// since that agent last found it first: the hooks' revisions are the ones
// it recorded. Then its programs saw every packet while no agent watched,
// and the flows they keep are current; Attach adopts them. Any other state
// (nothing attached, a link of a deleted interface, another program ahead
// now or for a while, an attachment in clsact mode, whose hooks have no
// revision) is false.
func (a *Attacher) InPlace(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	lk, err := netlink.LinkByName(name)
	if err != nil {
		return false
	}
	for _, d := range Directions {
		if !a.inPlace(lk, d) {
			return false
		}
	}
	return true
}

// inPlace is InPlace for one direction.
func (a *Attacher) inPlace(lk netlink.Link, d Direction) bool {
	l, err := link.LoadPinnedLink(pinName{pinTCX, d, lk.Attrs().Name}.path(a.cfg.PinDir), nil)
	if err != nil {
		return false
	}
	info, err := l.Info()
	l.Close()
	if err != nil {
		return false
	}
	rev, err := a.checkOne(ModeTCX, lk, d, info.Program)
	if err != nil {
		return false
	}
	recorded, ok := a.recordedRevision(lk.Attrs().Index, d)
	return ok && recorded == rev
}
