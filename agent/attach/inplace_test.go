package attach

import (
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf/link"
)

// TestInPlace: a restarted agent keeps the flows of an interface only where
// InPlace says the earlier agent's attachment ran first all along. Another
// Attacher on the same pin directory (the next agent) sees a TCX attachment
// in place until another program runs ahead of it, even once that program
// is gone again (the hooks' revisions moved), until the earlier agent's
// check has found its program first again; and not once the attachment
// goes (the pinned link detached by hand). An interface never attached or
// missing, another pin directory's agent, and clsact attachments (their
// hooks have no revision) are never in place.
func TestInPlace(t *testing.T) {
	needRoot(t)
	t.Run("clsact", func(t *testing.T) {
		first, iface, _ := attachedPass(t, ModeClsact)
		next, err := New(Config{PinDir: first.cfg.PinDir, Mode: ModeClsact})
		if err != nil {
			t.Fatal(err)
		}
		if next.InPlace(iface) {
			t.Error("a clsact attachment is in place")
		}
	})
	t.Run("tcx", func(t *testing.T) {
		needMode(t, ModeTCX)
		first, iface, progs := attachedPass(t, ModeTCX)
		next, err := New(Config{PinDir: first.cfg.PinDir, Mode: ModeTCX})
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
		other, err := New(Config{PinDir: pinDir(t), Mode: ModeTCX})
		if err != nil {
			t.Fatal(err)
		}
		if other.InPlace(iface) {
			t.Error("an attachment of another pin directory is in place")
		}

		prog := passProg(t)
		defer prog.Close()
		remove := attachOther(t, ModeTCX, iface, prog, true)
		if next.InPlace(iface) {
			t.Error("an attachment with another program ahead of it is in place")
		}
		remove()
		if next.InPlace(iface) {
			t.Error("an attachment that had another program ahead of it for a while is in place")
		}
		for _, at := range first.Check([]string{iface}, progs) {
			if at.Err != nil {
				t.Fatalf("%s: the earlier agent's check: %v", at.Direction, at.Err)
			}
		}
		if !next.InPlace(iface) {
			t.Error("the attachment is not in place once the earlier agent's check found it first again")
		}
		remove = attachOther(t, ModeTCX, iface, prog, false)
		remove()
		if next.InPlace(iface) {
			t.Error("an attachment whose hooks changed since the earlier agent's check is in place")
		}

		l, err := link.LoadPinnedLink(filepath.Join(first.cfg.PinDir, linksDir, pinName{pinTCX, Egress, iface}.String()), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.Detach(); err != nil {
			t.Fatal(err)
		}
		if next.InPlace(iface) {
			t.Error("an attachment removed by another tool (its pins left) is in place")
		}
	})
}
