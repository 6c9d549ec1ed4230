package attach

import (
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// TestInPlace: a restarted agent keeps the flows of an interface only where
// InPlace says the earlier agent's attachment ran all along. Another
// Attacher on the same pin directory (the next agent) sees it in place
// until it goes (the interface's clsact qdisc deleted, the pinned TCX link
// detached) or another program runs ahead of it; an interface never
// attached, or missing, is not, nor is it for an agent of another pin
// directory.
func TestInPlace(t *testing.T) {
	needRoot(t)
	for _, mode := range []Mode{ModeTCX, ModeClsact} {
		t.Run(string(mode), func(t *testing.T) {
			needMode(t, mode)
			first, iface, _ := attachedPass(t, mode)
			next, err := New(Config{PinDir: first.cfg.PinDir, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if !next.InPlace(iface) {
				t.Fatal("an attachment the earlier agent left is not in place")
			}
			if other := vethPair(t); next.InPlace(other) {
				t.Error("an interface never attached is in place")
			}
			if next.InPlace("axnosuchif") {
				t.Error("a missing interface is in place")
			}
			// An agent of another pin directory keeps other flows.
			other, err := New(Config{PinDir: pinDir(t), Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if other.InPlace(iface) {
				t.Error("an attachment of another pin directory is in place")
			}

			prog := passProg(t)
			defer prog.Close()
			remove := attachOther(t, mode, iface, prog, true)
			if next.InPlace(iface) {
				t.Error("an attachment with another program ahead of it is in place")
			}
			remove()
			if !next.InPlace(iface) {
				t.Error("the attachment is not in place once the program ahead is gone")
			}

			if mode == ModeClsact {
				lk, err := netlink.LinkByName(iface)
				if err != nil {
					t.Fatal(err)
				}
				qd := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: lk.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}, QdiscType: "clsact"}
				if err := netlink.QdiscDel(qd); err != nil {
					t.Fatalf("deleting the clsact qdisc: %v", err)
				}
			} else {
				l, err := link.LoadPinnedLink(filepath.Join(first.cfg.PinDir, linksDir, pinName{pinTCX, Egress, iface}.String()), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				if err := l.Detach(); err != nil {
					t.Fatal(err)
				}
			}
			if next.InPlace(iface) {
				t.Error("an attachment removed by another tool (its pins left) is in place")
			}
		})
	}
}
