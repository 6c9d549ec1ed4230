package datapath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
)

// Maps pinned by an earlier agent with other sizes (it ran with other --max-*
// flags, or another object) cannot be reused: the kernel fixes a map's size
// at creation. Open then builds a new set: every decision map at the
// requested size and the config map, holding the table in force (the active
// generation, copied), and loads the programs on it. Only then are the new
// maps pinned in place of the old ones, each by an atomic rename.
//
// Programs the earlier agent attached keep the old set (a program holds its
// maps), and nothing writes it any more: until the new programs replace
// them, they decide by the table that was in force, never by a half-written
// one or an empty one. The new programs start on the same table. The other
// maps (flows, counters, denials) are kept and shared.
//
// When the table in force does not fit the new sizes, Open fails: nothing
// is replaced, and the programs of the earlier agent keep enforcing it.

// resizeSet is the new set of maps replacing pinned ones of other sizes.
type resizeSet struct {
	dir  string
	maps map[string]*ebpf.Map // by map name: the decision maps and config
}

// resizePinned compares the decision maps pinned under dir with the sizes
// spec asks for. It returns nil when none is pinned or all have the
// requested sizes; else the new set, filled, for LoadAndAssign's
// MapReplacements. Pinned maps of another layout than the object's are left
// for the loader to refuse.
func resizePinned(spec *ebpf.CollectionSpec, dir string) (*resizeSet, error) {
	pinned := map[string]*ebpf.Map{}
	defer func() {
		for _, m := range pinned {
			m.Close()
		}
	}()
	resized := false
	for _, name := range append([]string{bpf.AxonMapConfig}, decisionMapNames()...) {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("opening pinned map %s: %w", name, err)
		}
		pinned[name] = m
		ms := spec.Maps[name].Copy()
		ms.MaxEntries = m.MaxEntries()
		if ms.Compatible(m) != nil {
			return nil, nil // another layout: the loader says so
		}
		resized = resized || m.MaxEntries() != spec.Maps[name].MaxEntries
	}
	if !resized {
		return nil, nil
	}
	cfgMap := pinned[bpf.AxonMapConfig]
	if cfgMap == nil {
		return nil, fmt.Errorf("maps pinned under %s have no config map: remove them (axon-agent cleanup) to start afresh", dir)
	}
	var cfg bpf.AxonAxConfig
	if err := cfgMap.Lookup(uint32(0), &cfg); err != nil {
		return nil, fmt.Errorf("reading pinned config: %w", err)
	}
	active := uint8(cfg.ActiveGen & 1)

	rs := &resizeSet{dir: dir, maps: map[string]*ebpf.Map{}}
	fail := func(err error) (*resizeSet, error) {
		rs.close()
		return nil, err
	}
	for _, name := range append([]string{bpf.AxonMapConfig}, decisionMapNames()...) {
		ms := spec.Maps[name].Copy()
		ms.Pinning = ebpf.PinNone
		m, err := ebpf.NewMap(ms)
		if err != nil {
			return fail(fmt.Errorf("creating map %s with %d entries: %w", name, ms.MaxEntries, err))
		}
		rs.maps[name] = m
		if old := pinned[name]; old != nil {
			if err := copyActive(name, old, m, active); err != nil {
				return fail(err)
			}
		}
	}
	return rs, nil
}

// copyActive copies the entries of generation gen (all of config) from old
// to m.
func copyActive(name string, old, m *ebpf.Map, gen uint8) error {
	genOff := 0
	for _, dm := range decisionMaps {
		if dm.name == name {
			genOff = dm.genOff
		}
	}
	var k, v []byte
	n := 0
	it := old.Iterate()
	for it.Next(&k, &v) {
		if name != bpf.AxonMapConfig {
			if g, ok := keyGen(genOff, k); !ok || g != gen {
				continue
			}
		}
		n++
		if err := m.Put(k, v); err != nil {
			hint := "remove the pins (axon-agent cleanup) to start afresh"
			if f := flagFor(name); f != "" {
				hint = fmt.Sprintf("raise --%s, or %s", f, hint)
			}
			return fmt.Errorf("copying the table in force into map %s of %d entries: entry %d: %w; %s",
				name, m.MaxEntries(), n, err, hint)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading pinned map %s: %w", name, err)
	}
	return nil
}

// replacements are the new maps for LoadAndAssign.
func (rs *resizeSet) replacements() map[string]*ebpf.Map {
	if rs == nil {
		return nil
	}
	return rs.maps
}

// pin pins the new maps in place of the old ones, config last: each pin is
// replaced by a rename, so that a pin path never names no map.
func (rs *resizeSet) pin() error {
	for _, name := range append(decisionMapNames(), bpf.AxonMapConfig) {
		path := filepath.Join(rs.dir, name)
		tmp := path + "_resizing" // bpffs refuses names with a dot
		_ = os.Remove(tmp)        // a leftover of a crash
		if err := rs.maps[name].Pin(tmp); err != nil {
			return fmt.Errorf("pinning resized map %s: %w", name, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("pinning resized map %s: %w", name, err)
		}
	}
	return nil
}

func (rs *resizeSet) close() {
	if rs == nil {
		return
	}
	for _, m := range rs.maps {
		m.Close()
	}
}

func decisionMapNames() []string {
	names := make([]string, len(decisionMaps))
	for i, m := range decisionMaps {
		names[i] = m.name
	}
	return names
}
