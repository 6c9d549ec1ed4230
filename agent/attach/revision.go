package attach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// A TCX hook has a revision, which the kernel bumps at every attach,
// detach or replacement there. The agent records it, in a map pinned under
// its pin directory, each time it finds its program first on the hook. A
// restarted agent keeps an interface's flows only where the revisions are
// still the recorded ones (InPlace): no program ran ahead of Axon's, even
// for a moment, while no agent watched.

// revisionsPin is the map's pin, in the pin directory.
const revisionsPin = "tcx_revisions"

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

// recordRevision records rev as the revision of hook (ifindex, d), and
// reports whether another one was recorded before.
func (a *Attacher) recordRevision(ifindex int, d Direction, rev uint64) (changed bool, err error) {
	prev, had := a.recordedRevision(ifindex, d)
	if had && prev == rev {
		return false, nil
	}
	m, err := a.revisions(true)
	if err != nil {
		return false, err
	}
	return had, m.Put(keyOf(ifindex, d), rev)
}

// recordedRevision returns the revision recorded for hook (ifindex, d).
func (a *Attacher) recordedRevision(ifindex int, d Direction) (uint64, bool) {
	m, err := a.revisions(false)
	if err != nil {
		return 0, false
	}
	var rev uint64
	return rev, m.Lookup(keyOf(ifindex, d), &rev) == nil
}
