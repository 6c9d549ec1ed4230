package attach

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/cilium/ebpf/link"
)

// TestInPlace: a restarted agent keeps the flows of an interface only where
// InPlace says the earlier agent's attachment ran first all along. Another
// Attacher on the same pin directory (the next agent) sees a TCX attachment
// in place until another program runs ahead of it, even once that program
// is gone again (the hooks' revisions moved), until the earlier agent's
// check has found its program first again and it has forgotten the flows
// (RecordRevisions); and not once the attachment
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
		ats := first.Check([]string{iface}, progs)
		for _, at := range ats {
			if at.Err != nil || !at.HookChanged {
				t.Fatalf("%s: the earlier agent's check: hook changed %v, %v", at.Direction, at.HookChanged, at.Err)
			}
		}
		if next.InPlace(iface) {
			t.Error("an attachment whose hooks' change the earlier agent saw, but did not forget the flows of (killed), is in place")
		}
		first.RecordRevisions(ats)
		if !next.InPlace(iface) {
			t.Error("the attachment is not in place once the earlier agent's check found it first again and it forgot the flows")
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

// TestAdoptOnlyInStep: a restarted agent's Attach adopts an earlier agent's
// TCX links only in step: their hooks still at the revisions recorded (the
// earlier agent found its program first and forgot the flows since the
// last change), and its own update the only change. A program attached and
// detached again before the restart's Attach (after its InPlace, say), or
// an attach whose revisions were never recorded (the earlier agent killed
// before it forgot the flows), makes the attachment count as made anew, and
// the agent forgets the flows through it.
func TestAdoptOnlyInStep(t *testing.T) {
	needRoot(t)
	needMode(t, ModeTCX)
	first, iface, _ := attachedPass(t, ModeTCX)
	restart := func(record bool) []bool {
		t.Helper()
		next, err := New(Config{PinDir: first.cfg.PinDir, Mode: ModeTCX})
		if err != nil {
			t.Fatal(err)
		}
		p := passProg(t)
		defer p.Close()
		ats, err := next.Attach([]string{iface}, Programs{Ingress: p, Egress: p})
		if err != nil {
			t.Fatal(err)
		}
		var adopted []bool
		for _, at := range ats {
			adopted = append(adopted, at.Adopted)
		}
		if record {
			next.RecordRevisions(ats)
		}
		return adopted
	}
	if got := restart(true); slices.Contains(got, false) {
		t.Errorf("a restart with nothing changed since: adopted %v, want true for both directions", got)
	}
	other := passProg(t)
	defer other.Close()
	attachOther(t, ModeTCX, iface, other, true)()
	if got := restart(true); slices.Contains(got, true) {
		t.Errorf("a restart after a program ran ahead for a while: adopted %v, want false for both directions", got)
	}
	if got := restart(false); slices.Contains(got, false) {
		t.Errorf("a restart after one that recorded its attach: adopted %v, want true for both directions", got)
	}
	if got := restart(true); slices.Contains(got, true) {
		t.Errorf("a restart after one killed before it recorded its attach: adopted %v, want false for both directions", got)
	}
}
