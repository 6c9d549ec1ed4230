package datapath

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
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
// wholly by the new table. When t leaves out an endpoint the old table
// policed, it then forgets the flows of endpoints t does not police
// (ForgetUnpolicedFlows). On an error before the flip the active
// table is unchanged; an error forgetting flows leaves t in force (the
// flow expiry pass forgets them later).
func (d *Datapath) Apply(t *table.Table) error {
	_, err := d.ApplyStats(t)
	return err
}

// ApplyStats is Apply, reporting what was written.
func (d *Datapath) ApplyStats(t *table.Table) (ApplyStats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ApplyStats{}, ErrClosed
	}
	next := 1 - d.active
	if d.unknown[next] {
		// Entries of next not in held would stay in the new table.
		if err := d.resync(next); err != nil {
			return ApplyStats{}, fmt.Errorf("rereading generation %d: %w", next, err)
		}
	}
	want, err := encodeRest(t, next)
	if err != nil {
		return ApplyStats{}, err
	}
	plan, err := planPaths(t, d.trieLens)
	if err != nil {
		return ApplyStats{}, err
	}
	if err := plan.putGlobs(want, next); err != nil {
		return ApplyStats{}, err
	}
	plan.putTries(want, next)
	// The path rows are compared with those next holds when its plan is
	// known and names the globs both tables have by the same IDs (then
	// equal rows are equal entries); otherwise every entry is encoded and
	// compared.
	var diffs map[string]*rowDiff
	if prev := d.plans[next]; prev != nil && sameGlobIDs(prev, plan) {
		diffs = rowDiffs(prev, plan, next)
	} else {
		plan.putRows(want, next)
	}
	if wait := Settle - time.Since(d.lastFlip); wait > 0 {
		time.Sleep(wait)
	}
	st := ApplyStats{Generation: next}
	held := d.held[next]
	for _, dm := range decisionMaps {
		m := d.mapByName(dm.name)
		if rd := diffs[dm.name]; rd != nil {
			if err := rd.write(m, dm.name, held[dm.name], &st); err != nil {
				return st, errors.Join(err, d.resync(next))
			}
			want[dm.name] = held[dm.name]
			continue
		}
		for k := range held[dm.name] {
			if _, ok := want[dm.name][k]; ok {
				continue
			}
			if err := m.Delete([]byte(k)); err != nil {
				return st, errors.Join(fmt.Errorf("deleting from map %s: %w", dm.name, err), d.resync(next))
			}
			st.Deleted++
		}
		for k, v := range want[dm.name] {
			if old, ok := held[dm.name][k]; ok && bytes.Equal(old, v) {
				continue
			}
			if err := m.Put([]byte(k), v); err != nil {
				return st, errors.Join(fmt.Errorf("writing map %s: %w", dm.name, err), d.resync(next))
			}
			st.Updated++
		}
	}
	forget := d.unknown[d.active] || dropsEndpoints(d.held[d.active], want, next)
	if err := d.objs.Config.Put(uint32(0), bpf.AxonAxConfig{ActiveGen: uint32(next), HashedGen: uint32(next) + 1}); err != nil {
		return st, errors.Join(fmt.Errorf("flipping generation: %w", err), d.resync(next))
	}
	d.held[next] = want
	d.plans[next] = plan
	d.active = next
	d.lastFlip = time.Now()
	for _, r := range t.Rules {
		d.maxRule = max(d.maxRule, uint32(r.ID))
	}
	if forget {
		// After Settle no program still decides by the old table: none
		// can make a flow for an endpoint t leaves out once the sweep
		// has passed it.
		time.Sleep(Settle)
		if _, err := d.ForgetUnpolicedFlows(); err != nil {
			return st, fmt.Errorf("forgetting the flows of endpoints no longer policed: %w", err)
		}
	}
	return st, nil
}

// resync rereads what generation gen holds after a failed write. When even
// that fails, gen is marked unknown: the next Apply rereads it first and
// fails rather than leave rows it could not see in the table it writes.
func (d *Datapath) resync(gen uint8) error {
	d.plans = [2]*pathPlan{} // held is reread: no longer what they wrote
	held := [2]generation{d.held[0], d.held[1]}
	err := d.readBack()
	if err != nil {
		d.held = held
		d.held[gen] = newGeneration()
		err = d.listGeneration(gen)
	}
	d.unknown[gen] = err != nil
	return err
}

// listGeneration marks every entry of generation gen for deletion (its
// content unknown).
func (d *Datapath) listGeneration(gen uint8) error {
	for _, dm := range decisionMaps {
		var k, v []byte
		it := d.mapByName(dm.name).Iterate()
		for it.Next(&k, &v) {
			if g, ok := keyGen(dm.genOff, k); ok && g == gen {
				d.held[gen][dm.name][string(k)] = nil
			}
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("listing map %s: %w", dm.name, err)
		}
	}
	return nil
}
