package datapath

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
	"github.com/cilium/ebpf"
)

// MaxDenials is how many distinct denial tuples the datapath keeps
// (AX_MAX_DENIALS); requests of further tuples are counted per rule and
// verdict only (Denials.Overflow).
const MaxDenials = 16384

// methodTooLong is ax_denial_key.method_len for a method longer than
// maxMethodLen (its bytes are not kept).
const methodTooLong = 0xff

// DenialKey is one tuple of the exact deny and audit_deny tallies.
type DenialKey struct {
	Rule     table.RuleID // as rule_stats counts it: IDs >= MaxRules are 0
	Verdict  Verdict      // VerdictDeny or VerdictAuditDeny
	Endpoint uint32       // destination endpoint ID of the table in force
	Src      netip.Addr
	Method   string // "" when longer than the datapath keeps (or none was parsed)
	Path     string // canonical form, at most the first table.MaxPathKey bytes
	PathLen  int    // of the whole path
}

// Denials are the exact deny and audit_deny counts since the maps were
// created: per tuple, and per (rule, verdict) for requests whose tuple found
// the table full. For every rule and verdict, the tuples' counts plus
// Overflow equal the rule's count in Counters.Rules.
type Denials struct {
	Tuples   map[DenialKey]uint64
	Overflow map[RuleVerdict]uint64
}

// Denials reads the tallies.
func (d *Datapath) Denials() (Denials, error) {
	maxRule, err := d.countedRules()
	if err != nil {
		return Denials{}, err
	}
	out := Denials{Tuples: map[DenialKey]uint64{}, Overflow: map[RuleVerdict]uint64{}}
	if err := d.batchDenials(out.Tuples); err != nil {
		// Batch operations need 5.6+; iterate otherwise.
		clear(out.Tuples)
		var k bpf.AxonAxDenialKey
		var v uint64
		it := d.objs.Denials.Iterate()
		for it.Next(&k, &v) {
			if v > 0 {
				out.Tuples[decodeDenialKey(&k)] += v
			}
		}
		if err := it.Err(); err != nil {
			return Denials{}, fmt.Errorf("reading denial tallies: %w", err)
		}
	}
	limit := (maxRule + 1) * 4
	add := func(idx uint32, v uint64) {
		vd := Verdict(idx % 4)
		if v > 0 && idx < limit && (vd == VerdictDeny || vd == VerdictAuditDeny) {
			out.Overflow[RuleVerdict{Rule: table.RuleID(idx / 4), Verdict: vd}] = v
		}
	}
	if err := d.batchOverflow(limit, add); err != nil {
		clear(out.Overflow)
		var v uint64
		for idx := uint32(0); idx < limit; idx++ {
			if err := d.objs.DenialOverflow.Lookup(idx, &v); err != nil {
				return Denials{}, fmt.Errorf("reading denial overflow: %w", err)
			}
			add(idx, v)
		}
	}
	return out, nil
}

// batchDenials reads the tuples in batches.
func (d *Datapath) batchDenials(out map[DenialKey]uint64) error {
	const chunk = 1024
	keys := make([]bpf.AxonAxDenialKey, chunk)
	vals := make([]uint64, chunk)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := d.objs.Denials.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			if vals[i] > 0 {
				out[decodeDenialKey(&keys[i])] += vals[i]
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// batchOverflow reads the overflow counters below limit in batches.
func (d *Datapath) batchOverflow(limit uint32, add func(uint32, uint64)) error {
	const chunk = 4096
	keys := make([]uint32, chunk)
	vals := make([]uint64, chunk)
	var cursor ebpf.MapBatchCursor
	for done := uint32(0); done < limit; {
		n, err := d.objs.DenialOverflow.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			add(keys[i], vals[i])
		}
		done += uint32(n)
		if errors.Is(err, ebpf.ErrKeyNotExist) || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func decodeDenialKey(k *bpf.AxonAxDenialKey) DenialKey {
	out := DenialKey{
		Rule:     table.RuleID(k.Rule),
		Verdict:  Verdict(k.Verdict),
		Endpoint: k.Endpoint,
		Src:      netip.AddrFrom16(k.Saddr).Unmap(),
		PathLen:  int(k.PathLen),
	}
	if ml := int(k.MethodLen); ml != methodTooLong {
		out.Method = string(k.Method[:min(ml, len(k.Method))])
	}
	out.Path = string(k.Path[:min(int(k.PathLen), len(k.Path))])
	return out
}
