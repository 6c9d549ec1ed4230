package attach

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
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

// TestUnrecordedHookChangedAndGoneForgotten: a TCX hook with no recorded
// revision (an attach whose flows the agent could not forget, so did not
// record) checks as changed until recorded; the records of interfaces gone
// from the node are deleted at the next check, so that pod churn cannot
// fill the map (a full map records nothing more).
func TestUnrecordedHookChangedAndGoneForgotten(t *testing.T) {
	needRoot(t)
	needMode(t, ModeTCX)
	a, err := New(Config{PinDir: pinDir(t), Mode: ModeTCX})
	if err != nil {
		t.Fatal(err)
	}
	p := passProg(t)
	defer p.Close()
	progs := Programs{Ingress: p, Egress: p}
	keep, gone := vethPair(t), vethPair(t)
	ats, err := a.Attach([]string{keep, gone}, progs)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range a.Check([]string{keep}, progs) {
		if at.Err != nil || !at.HookChanged {
			t.Errorf("%s: unrecorded hook: changed %v, %v; want changed", at.Direction, at.HookChanged, at.Err)
		}
	}
	a.RecordRevisions(ats)
	for _, at := range a.Check([]string{keep}, progs) {
		if at.Err != nil || at.HookChanged {
			t.Errorf("%s: recorded hook: changed %v, %v; want unchanged", at.Direction, at.HookChanged, at.Err)
		}
	}
	lk, err := netlink.LinkByName(gone)
	if err != nil {
		t.Fatal(err)
	}
	idx := lk.Attrs().Index
	if _, ok := a.recordedRevision(idx, Ingress); !ok {
		t.Fatal("no revision recorded for the second interface")
	}
	if err := netlink.LinkDel(lk); err != nil {
		t.Fatal(err)
	}
	a.Check([]string{keep}, progs)
	for _, d := range Directions {
		if _, ok := a.recordedRevision(idx, d); ok {
			t.Errorf("%s: the revision of a deleted interface is still recorded", d)
		}
	}
	if _, ok := a.recordedRevision(ifindexOf(t, keep), Ingress); !ok {
		t.Error("the revision of a live interface was deleted")
	}
}

// TestInStep: an adopted link is in step only from the recorded revision,
// with its own update the only change (none when it ran the program
// already) up to the check after it.
func TestInStep(t *testing.T) {
	for _, c := range []struct {
		name      string
		t         tcxAttach
		rec, chkd uint64
		want      bool
	}{
		{"updated", tcxAttach{adopted: true, before: 7, after: 8}, 7, 8, true},
		{"same program", tcxAttach{adopted: true, same: true, before: 7, after: 7}, 7, 7, true},
		{"not adopted", tcxAttach{before: 7, after: 8}, 7, 8, false},
		{"changed before", tcxAttach{adopted: true, before: 9, after: 10}, 7, 10, false},
		{"another change with the update", tcxAttach{adopted: true, before: 7, after: 9}, 7, 9, false},
		{"a change with a same-program update", tcxAttach{adopted: true, same: true, before: 7, after: 8}, 7, 8, false},
		{"changed before the check", tcxAttach{adopted: true, before: 7, after: 8}, 7, 10, false},
	} {
		if got := c.t.inStep(c.rec, c.chkd); got != c.want {
			t.Errorf("%s: in step %v, want %v", c.name, got, c.want)
		}
	}
}

func ifindexOf(t *testing.T, name string) int {
	t.Helper()
	lk, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return lk.Attrs().Index
}

// TestReattachDropsOldRecord: a hook whose programs all went (the
// interface left the attach list) starts again at the same revisions, so
// the record of the attachment before matches the new one's. Attach drops
// it: until the agent records the new attachment (after forgetting its
// flows), a check sees a change and a successor's InPlace says no.
func TestReattachDropsOldRecord(t *testing.T) {
	needRoot(t)
	needMode(t, ModeTCX)
	a, iface, progs := attachedPass(t, ModeTCX)
	before := map[Direction]uint64{}
	for _, d := range Directions {
		rev, ok := a.recordedRevision(ifindexOf(t, iface), d)
		if !ok {
			t.Fatalf("%s: no revision recorded", d)
		}
		before[d] = rev
	}
	if _, err := a.Prune(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Attach([]string{iface}, progs); err != nil {
		t.Fatal(err)
	}
	for _, at := range a.Check([]string{iface}, progs) {
		if at.Err != nil || !at.HookChanged {
			t.Errorf("%s: re-attached at revision %d (the old record %d): changed %v, %v; want changed until recorded",
				at.Direction, at.revision, before[at.Direction], at.HookChanged, at.Err)
		}
	}
	next, err := New(Config{PinDir: a.cfg.PinDir, Mode: ModeTCX})
	if err != nil {
		t.Fatal(err)
	}
	if next.InPlace(iface) {
		t.Error("a re-attachment whose flows were not forgotten yet is in place for a successor")
	}
}
