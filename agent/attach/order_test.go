package attach

import (
	"errors"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestProgramAheadIsNotEnforcing (red team rt31): a program attached ahead
// of Axon's (a TCX link at the head, a cls_bpf filter at Axon's priority
// listed first) may end the chain before Axon's runs. Check and Attach
// report it (ErrNotFirst) while it is there; once it is gone, or behind
// Axon's, the attachment checks clean again.
func TestProgramAheadIsNotEnforcing(t *testing.T) {
	needRoot(t)
	for _, mode := range []Mode{ModeTCX, ModeClsact} {
		t.Run(string(mode), func(t *testing.T) {
			needMode(t, mode)
			a, iface, progs := attachedPass(t, mode)
			other := passProg(t)
			defer other.Close()
			remove := attachOther(t, mode, iface, other, true)
			for _, at := range a.Check([]string{iface}, progs) {
				if !errors.Is(at.Err, ErrNotFirst) {
					t.Errorf("%s: Check with a program ahead: %v, want ErrNotFirst", at.Direction, at.Err)
				}
			}
			ats, err := a.Attach([]string{iface}, progs)
			if err == nil {
				t.Error("Attach with a program ahead: no error")
			}
			for _, at := range ats {
				if !errors.Is(at.Err, ErrNotFirst) {
					t.Errorf("%s: Attach with a program ahead: %v, want ErrNotFirst", at.Direction, at.Err)
				}
			}
			remove()
			for _, at := range a.Check([]string{iface}, progs) {
				if at.Err != nil {
					t.Errorf("%s: Check once the program ahead is gone: %v", at.Direction, at.Err)
				}
			}
			defer attachOther(t, mode, iface, other, false)()
			for _, at := range a.Check([]string{iface}, progs) {
				if at.Err != nil {
					t.Errorf("%s: Check with a program behind Axon's: %v", at.Direction, at.Err)
				}
			}
		})
	}
}

// attachOther attaches prog to both directions of iface beside Axon's,
// ahead of it (a TCX link at the head; a cls_bpf filter at Axon's priority,
// added after it) or behind it (at the tail; at the next priority), and
// returns the function that removes it.
func attachOther(t *testing.T, mode Mode, iface string, prog *ebpf.Program, ahead bool) func() {
	t.Helper()
	lk, err := netlink.LinkByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	var remove []func()
	for _, d := range Directions {
		if mode == ModeTCX {
			anchor := link.Tail()
			if ahead {
				anchor = link.Head()
			}
			l, err := link.AttachTCX(link.TCXOptions{Interface: lk.Attrs().Index, Program: prog, Attach: d.tcxAttachType(), Anchor: anchor})
			if err != nil {
				t.Fatal(err)
			}
			remove = append(remove, func() { l.Close() })
			continue
		}
		prio := uint16(clsPriority + 1)
		if ahead {
			prio = clsPriority
		}
		f := &netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: lk.Attrs().Index, Parent: clsParent(d), Handle: 1,
				Priority: prio, Protocol: unix.ETH_P_ALL},
			Fd: prog.FD(), Name: "other", DirectAction: true,
		}
		if err := netlink.FilterAdd(f); err != nil {
			t.Fatal(err)
		}
		remove = append(remove, func() { _ = netlink.FilterDel(f) })
	}
	return func() {
		for _, r := range remove {
			r()
		}
	}
}

// TestTCXAheadOfClsactIsNotEnforcing (red team rt43): the kernel runs an
// interface's TCX programs before its clsact filters, and one that ends the
// chain keeps Axon's filter from seeing the packet: a clsact attachment
// with a TCX program on its hook checks as not first (ErrNotFirst), and
// clean again once the program is gone.
func TestTCXAheadOfClsactIsNotEnforcing(t *testing.T) {
	needRoot(t)
	needMode(t, ModeTCX)
	a, iface, progs := attachedPass(t, ModeClsact)
	other := passProg(t)
	defer other.Close()
	remove := attachOther(t, ModeTCX, iface, other, false)
	for _, at := range a.Check([]string{iface}, progs) {
		if !errors.Is(at.Err, ErrNotFirst) {
			t.Errorf("%s: Check with a TCX program on the interface: %v, want ErrNotFirst", at.Direction, at.Err)
		}
	}
	if a.InPlace(iface) {
		t.Error("a clsact attachment behind a TCX program is in place")
	}
	remove()
	for _, at := range a.Check([]string{iface}, progs) {
		if at.Err != nil {
			t.Errorf("%s: Check once the TCX program is gone: %v", at.Direction, at.Err)
		}
	}
}

// TestHookChangedBetweenChecks: a program attached to Axon's TCX hook and
// detached again between two checks (it may have run ahead of Axon's for a
// while) leaves the hook's revision moved: every check reports the hook
// changed, though Axon's program runs first, until the revision is recorded
// (RecordRevisions: the agent forgot the flows); the one after does not.
func TestHookChangedBetweenChecks(t *testing.T) {
	needRoot(t)
	needMode(t, ModeTCX)
	a, iface, progs := attachedPass(t, ModeTCX)
	changed := func() []bool {
		var out []bool
		for _, at := range a.Check([]string{iface}, progs) {
			if at.Err != nil {
				t.Fatalf("%s: Check: %v", at.Direction, at.Err)
			}
			out = append(out, at.HookChanged)
		}
		return out
	}
	if got := changed(); slices.Contains(got, true) {
		t.Errorf("right after Attach: hook changed %v", got)
	}
	other := passProg(t)
	defer other.Close()
	attachOther(t, ModeTCX, iface, other, true)()
	if got := changed(); slices.Contains(got, false) {
		t.Errorf("after a program was attached ahead and detached: hook changed %v, want true for both directions", got)
	}
	if got := changed(); slices.Contains(got, false) {
		t.Errorf("the check after, the change not recorded (the flows not forgotten yet): hook changed %v, want true for both directions", got)
	}
	a.RecordRevisions(a.Check([]string{iface}, progs))
	if got := changed(); slices.Contains(got, true) {
		t.Errorf("the check after the change was recorded: hook changed %v", got)
	}
}
