package attach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// A TCX hook has a revision, which the kernel bumps at every attach,
// detach or replacement there. The agent records it, in a map pinned under
// its pin directory, when it finds its program first on the hook, once it
// has forgotten the flows a change there made stale (RecordRevisions). A
// restarted agent keeps an interface's flows only where the revisions are
// still the recorded ones (InPlace): no program ran ahead of Axon's, even
// for a moment, while no agent watched.

// revisionsPin is the map's pin, in the pin directory. Agents before
// 2026-12-03 pinned "tcx_revisions", recording revisions they had not
// forgotten the flows of: that map is dropped, never read, so the first
// agent after them forgets the flows once.
const (
	revisionsPin       = "tcx_revisions_v2"
	legacyRevisionsPin = "tcx_revisions"
)

// revKey is a hook: an interface and a direction.
type revKey struct {
	Ifindex uint32
	Dir     uint32
}

func keyOf(ifindex int, d Direction) revKey {
	k := revKey{Ifindex: uint32(ifindex)}
	if d == Egress {
		k.Dir = 1
	}
	return k
}

// revisions returns the pinned map of recorded revisions, opened once
// (held while the Attacher lives) and created when create is set and there
// is none. Callers hold a.mu.
func (a *Attacher) revisions(create bool) (*ebpf.Map, error) {
	if a.revs != nil {
		return a.revs, nil
	}
	path := filepath.Join(a.cfg.PinDir, revisionsPin)
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil && create && errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(filepath.Join(a.cfg.PinDir, legacyRevisionsPin))
		m, err = ebpf.NewMap(&ebpf.MapSpec{Name: "axon_tcx_revs", Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: 1 << 16})
		if err != nil {
			return nil, fmt.Errorf("creating the revisions map: %w", err)
		}
		if err := m.Pin(path); err != nil {
			m.Close()
			return nil, fmt.Errorf("pinning the revisions map: %w", err)
		}
	}
	if err != nil {
		return nil, err
	}
	a.revs = m
	return m, nil
}

// recordRevision records rev as the revision of hook (ifindex, d); name
// is the interface's, for the warning when it cannot.
func (a *Attacher) recordRevision(name string, ifindex int, d Direction, rev uint64) {
	prev, had := a.recordedRevision(ifindex, d)
	if had && prev == rev {
		return
	}
	if a.seen == nil {
		a.seen = map[revKey]uint64{}
	}
	a.seen[keyOf(ifindex, d)] = rev
	m, err := a.revisions(true)
	if err == nil {
		err = m.Put(keyOf(ifindex, d), rev)
	}
	if err != nil {
		a.log.Warn("recording the tcx hook's revision: a restart will forget this interface's flows", "interface", name, "direction", d, "error", err)
	}
}

// RecordRevisions records the hook revisions of the TCX attachments of ats
// (from Attach or Check): the caller has forgotten the flows through any
// of them that was made anew, adopted out of step or changed. Until then a
// changed revision stays unrecorded, so that an agent killed in between
// leaves the old one, and its successor forgets those flows too (InPlace).
// A change since the attach or check shows at the next check.
func (a *Attacher) RecordRevisions(ats []Attachment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, at := range ats {
		if at.Err == nil && at.Mode == ModeTCX && at.ifindex > 0 {
			a.recordRevision(at.Interface, at.ifindex, at.Direction, at.revision)
		}
	}
}

// deleteRevision deletes the revision recorded for hook (ifindex, d),
// before an attach that may not be adopted in step: a hook that held no
// program for a while starts again at the same revisions, and an old
// record could match the new attachment's.
func (a *Attacher) deleteRevision(name string, ifindex int, d Direction) {
	k := keyOf(ifindex, d)
	delete(a.seen, k)
	m, err := a.revisions(false)
	if err != nil {
		return
	}
	if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		a.log.Warn("deleting the tcx hook's recorded revision", "interface", name, "direction", d, "error", err)
	}
}

// recordedRevision returns the revision recorded for hook (ifindex, d):
// the one this Attacher recorded, kept in memory too (a map that cannot be
// written must not make every check see a change), else the pinned one (an
// earlier agent's).
func (a *Attacher) recordedRevision(ifindex int, d Direction) (uint64, bool) {
	if rev, ok := a.seen[keyOf(ifindex, d)]; ok {
		return rev, true
	}
	m, err := a.revisions(false)
	if err != nil {
		return 0, false
	}
	var rev uint64
	return rev, m.Lookup(keyOf(ifindex, d), &rev) == nil
}

// forgetRevisionsOfGone deletes the recorded revisions of interfaces not
// among links (the node's, as just listed): a deleted pod's veth would
// hold its entries for good, and a full map records nothing more. Callers
// hold a.mu.
func (a *Attacher) forgetRevisionsOfGone(links []netlink.Link) {
	live := make(map[uint32]bool, len(links))
	for _, l := range links {
		live[uint32(l.Attrs().Index)] = true
	}
	for k := range a.seen {
		if !live[k.Ifindex] {
			delete(a.seen, k)
		}
	}
	m, err := a.revisions(false)
	if err != nil {
		return
	}
	var gone []revKey
	var k revKey
	var rev uint64
	it := m.Iterate()
	for it.Next(&k, &rev) {
		if !live[k.Ifindex] {
			gone = append(gone, k)
		}
	}
	if err := it.Err(); err != nil {
		a.log.Warn("listing the recorded tcx hook revisions", "error", err)
	}
	for _, k := range gone {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			a.log.Warn("deleting the recorded revision of a gone interface", "ifindex", k.Ifindex, "error", err)
		}
	}
}
