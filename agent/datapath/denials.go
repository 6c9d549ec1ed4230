package datapath

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/compiler"
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
	Rule     compiler.RuleID // as rule_stats counts it: IDs >= MaxRules are 0
	Verdict  Verdict         // VerdictDeny or VerdictAuditDeny
	Endpoint uint32          // destination endpoint ID of the table in force
	Src      netip.Addr
	Method   string // "" when longer than the datapath keeps (or none was parsed)
	Path     string // canonical form, at most the first compiler.MaxPathKey bytes
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
	d.mu.Lock()
	maxRule := min(d.maxRule, MaxRules-1)
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return Denials{}, ErrClosed
	}
	out := Denials{Tuples: map[DenialKey]uint64{}, Overflow: map[RuleVerdict]uint64{}}
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
	for rule := uint32(0); rule <= maxRule; rule++ {
		for _, vd := range []Verdict{VerdictDeny, VerdictAuditDeny} {
			idx := rule*4 + uint32(vd)
			if err := d.objs.DenialOverflow.Lookup(idx, &v); err != nil {
				if errors.Is(err, ebpf.ErrKeyNotExist) {
					continue
				}
				return Denials{}, fmt.Errorf("reading denial overflow: %w", err)
			}
			if v > 0 {
				out.Overflow[RuleVerdict{Rule: compiler.RuleID(rule), Verdict: vd}] = v
			}
		}
	}
	return out, nil
}

func decodeDenialKey(k *bpf.AxonAxDenialKey) DenialKey {
	out := DenialKey{
		Rule:     compiler.RuleID(k.Rule),
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
