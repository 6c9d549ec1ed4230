package datapath

import (
	"bytes"
	"fmt"
	"time"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/compiler"
)

// ApplyStats says how much an Apply wrote.
type ApplyStats struct {
	Generation uint8 // the generation now active
	Updated    int   // entries written
	Deleted    int   // entries removed
}

// Apply makes t the table every packet is decided by. It writes t into the
// inactive generation as a diff against what that generation held, then
// flips the active generation: each packet is decided wholly by the old or
// wholly by the new table. On error the active table is unchanged.
func (d *Datapath) Apply(t *compiler.Table) error {
	_, err := d.ApplyStats(t)
	return err
}

// ApplyStats is Apply, reporting what was written.
func (d *Datapath) ApplyStats(t *compiler.Table) (ApplyStats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ApplyStats{}, ErrClosed
	}
	next := 1 - d.active
	want, err := encode(t, next)
	if err != nil {
		return ApplyStats{}, err
	}
	if wait := Settle - time.Since(d.lastFlip); wait > 0 {
		time.Sleep(wait)
	}
	st := ApplyStats{Generation: next}
	held := d.held[next]
	for _, dm := range decisionMaps {
		m := d.mapByName(dm.name)
		for k := range held[dm.name] {
			if _, ok := want[dm.name][k]; ok {
				continue
			}
			if err := m.Delete([]byte(k)); err != nil {
				d.resync(next)
				return st, fmt.Errorf("deleting from map %s: %w", dm.name, err)
			}
			st.Deleted++
		}
		for k, v := range want[dm.name] {
			if old, ok := held[dm.name][k]; ok && bytes.Equal(old, v) {
				continue
			}
			if err := m.Put([]byte(k), v); err != nil {
				d.resync(next)
				return st, fmt.Errorf("writing map %s: %w", dm.name, err)
			}
			st.Updated++
		}
	}
	if err := d.objs.Config.Put(uint32(0), bpf.AxonAxConfig{ActiveGen: uint32(next)}); err != nil {
		d.resync(next)
		return st, fmt.Errorf("flipping generation: %w", err)
	}
	d.held[next] = want
	d.active = next
	d.lastFlip = time.Now()
	for _, r := range t.Rules {
		d.maxRule = max(d.maxRule, uint32(r.ID))
	}
	return st, nil
}

// resync rereads what generation gen holds after a failed write.
func (d *Datapath) resync(gen uint8) {
	held := [2]generation{d.held[0], d.held[1]}
	if err := d.readBack(); err != nil {
		d.held = held
		d.held[gen] = newGeneration()
		for _, dm := range decisionMaps {
			// Unknown content: delete everything of this generation next time.
			var k, v []byte
			it := d.mapByName(dm.name).Iterate()
			for it.Next(&k, &v) {
				if g, ok := keyGen(dm.genOff, k); ok && g == gen {
					d.held[gen][dm.name][string(k)] = nil
				}
			}
		}
	}
}
