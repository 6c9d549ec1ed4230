package datapath

import (
	"errors"
	"fmt"

	"github.com/axon-dev/axon/policy/compiler"
	"github.com/cilium/ebpf"
)

// Verdict is how the datapath decided a request (= compiler.DecisionAction).
type Verdict uint8

const (
	VerdictAllow     Verdict = 1
	VerdictDeny      Verdict = 2
	VerdictAuditDeny Verdict = 3
)

func (v Verdict) String() string { return compiler.DecisionAction(v).String() }

// Reason is why a request or packet was decided or dropped without a rule
// (enum ax_reason in bpf/include/axon_shared.h).
type Reason uint8

const (
	ReasonPolicy        Reason = 0  // a rule or default decided
	ReasonNotHTTP       Reason = 1  // not HTTP/1.x on a policed endpoint
	ReasonMalformed     Reason = 2  // unparseable within the datapath's bounds
	ReasonNonCanonical  Reason = 3  // non-canonical path
	ReasonOutOfOrder    Reason = 4  // segment beyond the in-order stream or before the first parsed byte, dropped
	ReasonFlowReset     Reason = 5  // segment of a connection already reset, dropped
	ReasonEventLimited  Reason = 6  // event not sent: rate limit
	ReasonGlobUndecided Reason = 7  // a glob the path was too long for (failed closed) changed the verdict
	ReasonResetFailed   Reason = 8  // the RST could not be built: segment dropped
	ReasonFragment      Reason = 9  // IP fragment to a policed endpoint, dropped
	ReasonEventLost     Reason = 10 // event not sent: ring buffer full
	ReasonUnverified    Reason = 11 // retransmission of bytes the server had not acknowledged: dropped, reset after AX_RTX_STRIKES
	ReasonUpgrade       Reason = 12 // an Upgrade other than websocket (h2c, ...) on a policed endpoint: refused
	ReasonUrgent        Reason = 13 // TCP urgent data on a policed connection: refused
	ReasonSYNData       Reason = 14 // data in a SYN: dropped
	ReasonNoACK         Reason = 15 // data without the ACK flag: dropped
	ReasonNoFlow        Reason = 16 // data on a connection whose start was not seen: refused
	ReasonVLAN          Reason = 17 // VLAN-tagged frame to a policed pod: dropped
	ReasonIPHeader      Reason = 18 // IP header or extension header chain not read to its end: dropped
	ReasonFlowTableFull Reason = 19 // no room for a new connection's state (its data is then refused)
	ReasonUpgradePend   Reason = 20 // data sent before the server answered an Upgrade: dropped
	ReasonConcurrent    Reason = 21 // a segment of a flow another CPU was parsing: dropped (retransmitted)
	ReasonMPTCP         Reason = 22 // a SYN's MPTCP option turned into NOPs (counted), or the SYN dropped
	ReasonDesync        Reason = 23 // an ACK beyond what the other side sent: the flow is not the server's connection
	ReasonSpoofed       Reason = 24 // a local pod sent with a source address not its own: dropped
	numReasons                 = 25
	reasonSlots                = 32
)

var reasonNames = [...]string{
	ReasonPolicy:        "policy",
	ReasonNotHTTP:       compiler.ReasonNotHTTP,
	ReasonMalformed:     compiler.ReasonMalformedRequest,
	ReasonNonCanonical:  compiler.ReasonNonCanonicalPath,
	ReasonOutOfOrder:    "out_of_order",
	ReasonFlowReset:     "flow_reset",
	ReasonEventLimited:  "event_rate_limited",
	ReasonGlobUndecided: compiler.ReasonGlobUndecided,
	ReasonResetFailed:   "reset_failed",
	ReasonFragment:      "ip_fragment",
	ReasonEventLost:     "event_lost",
	ReasonUnverified:    "retransmit_unverified",
	ReasonUpgrade:       "upgrade_refused",
	ReasonUrgent:        "tcp_urgent",
	ReasonSYNData:       "syn_data",
	ReasonNoACK:         "no_ack_flag",
	ReasonNoFlow:        "no_flow",
	ReasonVLAN:          "vlan_tagged",
	ReasonIPHeader:      "ip_header",
	ReasonFlowTableFull: "flow_table_full",
	ReasonUpgradePend:   "upgrade_pending",
	ReasonConcurrent:    "concurrent_segment",
	ReasonMPTCP:         "mptcp_removed",
	ReasonDesync:        "sequence_desync",
	ReasonSpoofed:       "spoofed_source",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason_%d", r)
}

// RuleVerdict keys the per-rule counters.
type RuleVerdict struct {
	Rule    compiler.RuleID // 0: no rule (reasons other than policy)
	Verdict Verdict
}

// Counters are cumulative since the maps were created, summed over CPUs.
type Counters struct {
	// Rules counts requests by the rule (or default) they were reported
	// against and verdict; zero counts are left out.
	Rules map[RuleVerdict]uint64
	// Reasons counts requests and packets by Reason.String(), other than
	// "policy"; zero counts are left out.
	Reasons map[string]uint64
}

// Counters reads the counters. Per-rule counters are read for rule IDs up to
// the highest one applied by this Datapath.
func (d *Datapath) Counters() (Counters, error) {
	d.mu.Lock()
	maxRule := min(d.maxRule, MaxRules-1)
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return Counters{}, ErrClosed
	}
	c := Counters{Rules: map[RuleVerdict]uint64{}, Reasons: map[string]uint64{}}
	limit := (maxRule + 1) * 4
	add := func(idx uint32, per []uint64) {
		if n := sum(per); n > 0 && idx%4 != 0 && idx < limit {
			c.Rules[RuleVerdict{Rule: compiler.RuleID(idx / 4), Verdict: Verdict(idx % 4)}] = n
		}
	}
	if err := d.batchRuleStats(limit, add); err != nil {
		// Batch operations need 5.6+; one lookup per counter otherwise.
		clear(c.Rules)
		var per []uint64
		for idx := uint32(0); idx < limit; idx++ {
			if err := d.objs.RuleStats.Lookup(idx, &per); err != nil {
				return Counters{}, fmt.Errorf("reading rule counters: %w", err)
			}
			add(idx, per)
		}
	}
	var per []uint64
	for r := uint32(1); r < numReasons; r++ {
		if err := d.objs.ReasonStats.Lookup(r, &per); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			return Counters{}, fmt.Errorf("reading reason counters: %w", err)
		}
		if n := sum(per); n > 0 {
			c.Reasons[Reason(r).String()] = n
		}
	}
	return c, nil
}

// batchRuleStats reads the rule counters below limit in batches of 4096.
func (d *Datapath) batchRuleStats(limit uint32, add func(uint32, []uint64)) error {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	const chunk = 4096
	keys := make([]uint32, chunk)
	vals := make([]uint64, chunk*ncpu)
	var cursor ebpf.MapBatchCursor
	for done := uint32(0); done < limit; {
		n, err := d.objs.RuleStats.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			add(keys[i], vals[i*ncpu:(i+1)*ncpu])
		}
		done += uint32(n)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
	return nil
}

func sum(v []uint64) uint64 {
	var n uint64
	for _, x := range v {
		n += x
	}
	return n
}
