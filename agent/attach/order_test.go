package attach

import (
	"errors"
	"testing"

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
			iface := vethPair(t)
			a, _ := New(Config{PinDir: pinDir(t), Mode: mode})
			p := passProg(t)
			defer p.Close()
			progs := Programs{Ingress: p, Egress: p}
			if _, err := a.Attach([]string{iface}, progs); err != nil {
				t.Fatal(err)
			}
			other := passProg(t)
			defer other.Close()
			lk, err := netlink.LinkByName(iface)
			if err != nil {
				t.Fatal(err)
			}
			var remove []func()
			for _, d := range Directions {
				if mode == ModeTCX {
					l, err := link.AttachTCX(link.TCXOptions{Interface: lk.Attrs().Index, Program: other, Attach: d.tcxAttachType(), Anchor: link.Head()})
					if err != nil {
						t.Fatal(err)
					}
					remove = append(remove, func() { l.Close() })
					continue
				}
				f := &netlink.BpfFilter{
					FilterAttrs: netlink.FilterAttrs{LinkIndex: lk.Attrs().Index, Parent: clsParent(d), Handle: 1,
						Priority: clsPriority, Protocol: unix.ETH_P_ALL},
					Fd: other.FD(), Name: "ahead", DirectAction: true,
				}
				if err := netlink.FilterAdd(f); err != nil {
					t.Fatal(err)
				}
				remove = append(remove, func() { _ = netlink.FilterDel(f) })
			}
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
			for _, r := range remove {
				r()
			}
			for _, at := range a.Check([]string{iface}, progs) {
				if at.Err != nil {
					t.Errorf("%s: Check once the program ahead is gone: %v", at.Direction, at.Err)
				}
			}
			// Behind Axon's: nothing to report.
			for _, d := range Directions {
				if mode == ModeTCX {
					l, err := link.AttachTCX(link.TCXOptions{Interface: lk.Attrs().Index, Program: other, Attach: d.tcxAttachType(), Anchor: link.Tail()})
					if err != nil {
						t.Fatal(err)
					}
					defer l.Close()
					continue
				}
				f := &netlink.BpfFilter{
					FilterAttrs: netlink.FilterAttrs{LinkIndex: lk.Attrs().Index, Parent: clsParent(d), Handle: 1,
						Priority: clsPriority + 1, Protocol: unix.ETH_P_ALL},
					Fd: other.FD(), Name: "behind", DirectAction: true,
				}
				if err := netlink.FilterAdd(f); err != nil {
					t.Fatal(err)
				}
			}
			for _, at := range a.Check([]string{iface}, progs) {
				if at.Err != nil {
					t.Errorf("%s: Check with a program behind Axon's: %v", at.Direction, at.Err)
				}
			}
		})
	}
}
