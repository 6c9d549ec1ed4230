package datapath

import (
	"errors"
	"fmt"

	"github.com/axon-dev/axon/bpf/shared"
	"github.com/axon-dev/axon/policy/table"
	"github.com/cilium/ebpf"
)

// Verdict is how the datapath decided a request (enum ax_verdict, as
// table.DecisionAction).
type Verdict uint8

const (
	VerdictAllow     = Verdict(table.DecisionAllow)
	VerdictDeny      = Verdict(table.DecisionDeny)
	VerdictAuditDeny = Verdict(table.DecisionAuditDeny)
)

func (v Verdict) String() string { return table.DecisionAction(v).String() }

// Reason is why a request or packet was decided or dropped without a rule
// (enum ax_reason in bpf/include/axon_shared.h, generated into bpf/shared).
type Reason uint8

const (
	ReasonPolicy        = Reason(shared.SharedAxReasonAX_REASON_POLICY)            // a rule or default decided
	ReasonNotHTTP       = Reason(shared.SharedAxReasonAX_REASON_NOT_HTTP)          // not HTTP/1.x on a policed endpoint
	ReasonMalformed     = Reason(shared.SharedAxReasonAX_REASON_MALFORMED)         // unparseable within the datapath's bounds
	ReasonNonCanonical  = Reason(shared.SharedAxReasonAX_REASON_NON_CANONICAL)     // non-canonical path
	ReasonOutOfOrder    = Reason(shared.SharedAxReasonAX_REASON_OUT_OF_ORDER)      // segment beyond the in-order stream or before the first parsed byte, dropped
	ReasonFlowReset     = Reason(shared.SharedAxReasonAX_REASON_FLOW_RESET)        // segment of a connection already reset, dropped
	ReasonEventLimited  = Reason(shared.SharedAxReasonAX_REASON_EVENT_LIMITED)     // event not sent: rate limit
	ReasonGlobUndecided = Reason(shared.SharedAxReasonAX_REASON_GLOB_UNDECIDED)    // a glob the path was too long for (failed closed) changed the verdict
	ReasonResetFailed   = Reason(shared.SharedAxReasonAX_REASON_RESET_FAILED)      // the RST could not be built: segment dropped
	ReasonFragment      = Reason(shared.SharedAxReasonAX_REASON_FRAGMENT)          // IP fragment to a policed endpoint, dropped
	ReasonEventLost     = Reason(shared.SharedAxReasonAX_REASON_EVENT_LOST)        // event not sent: ring buffer full
	ReasonUnverified    = Reason(shared.SharedAxReasonAX_REASON_UNVERIFIED)        // retransmission of bytes the server had not acknowledged: dropped, reset after AX_RTX_STRIKES
	ReasonUpgrade       = Reason(shared.SharedAxReasonAX_REASON_UPGRADE)           // an Upgrade other than websocket (h2c, ...) on a policed endpoint: refused
	ReasonUrgent        = Reason(shared.SharedAxReasonAX_REASON_URGENT)            // TCP urgent data on a policed connection: refused
	ReasonSYNData       = Reason(shared.SharedAxReasonAX_REASON_SYN_DATA)          // data in a SYN: dropped
	ReasonNoACK         = Reason(shared.SharedAxReasonAX_REASON_NO_ACK)            // data without the ACK flag: dropped
	ReasonNoFlow        = Reason(shared.SharedAxReasonAX_REASON_NO_FLOW)           // data on a connection whose start was not seen: refused
	ReasonVLAN          = Reason(shared.SharedAxReasonAX_REASON_VLAN)              // VLAN-tagged frame to a policed pod: dropped
	ReasonIPHeader      = Reason(shared.SharedAxReasonAX_REASON_IP_HEADER)         // IP header or extension header chain not read to its end: dropped
	ReasonFlowTableFull = Reason(shared.SharedAxReasonAX_REASON_FLOW_TABLE_FULL)   // no room for a new connection's state (its data is then refused)
	ReasonUpgradePend   = Reason(shared.SharedAxReasonAX_REASON_UPGRADE_PENDING)   // data sent before the server answered an Upgrade: dropped
	ReasonConcurrent    = Reason(shared.SharedAxReasonAX_REASON_CONCURRENT)        // a segment of a flow another CPU was parsing: dropped (retransmitted)
	ReasonMPTCP         = Reason(shared.SharedAxReasonAX_REASON_MPTCP)             // a SYN's MPTCP option turned into NOPs (counted), or the SYN dropped
	ReasonDesync        = Reason(shared.SharedAxReasonAX_REASON_DESYNC)            // an ACK beyond what the other side sent: the flow is not the server's connection
	ReasonSpoofed       = Reason(shared.SharedAxReasonAX_REASON_SPOOFED)           // a local pod sent with a source address not its own: dropped
	ReasonServerUnverif = Reason(shared.SharedAxReasonAX_REASON_SERVER_UNVERIFIED) // a SYN-ACK whose server socket holds client bytes, or is not found on a fast-open pod: its flow is refused once enforced
	ReasonServerConn    = Reason(shared.SharedAxReasonAX_REASON_SERVER_CONN)       // data the server's socket of the flow would not take in step (none: a SYN cookie could open one there; or one starting elsewhere): dropped, or refused
	numReasons          = int(shared.SharedAxReasonAX_REASON_MAX)
	reasonSlots         = int(shared.SharedAxBoundAX_BOUND_REASON_STATS)
)

var reasonNames = [...]string{
	ReasonPolicy:        "policy",
	ReasonNotHTTP:       table.ReasonNotHTTP,
	ReasonMalformed:     table.ReasonMalformedRequest,
	ReasonNonCanonical:  table.ReasonNonCanonicalPath,
	ReasonOutOfOrder:    "out_of_order",
	ReasonFlowReset:     "flow_reset",
	ReasonEventLimited:  "event_rate_limited",
	ReasonGlobUndecided: table.ReasonGlobUndecided,
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
	ReasonServerUnverif: "server_unverified",
	ReasonServerConn:    "server_conn_mismatch",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason_%d", r)
}

// RuleVerdict keys the per-rule counters.
type RuleVerdict struct {
	Rule    table.RuleID // 0: no rule (reasons other than policy)
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

// countedRules is the highest rule ID whose counters the datapath reads
// (the highest applied, within the counter map), or ErrClosed.
func (d *Datapath) countedRules() (uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, ErrClosed
	}
	return min(d.maxRule, MaxRules-1), nil
}

// Counters reads the counters. Per-rule counters are read for rule IDs up to
// the highest one applied by this Datapath.
func (d *Datapath) Counters() (Counters, error) {
	maxRule, err := d.countedRules()
	if err != nil {
		return Counters{}, err
	}
	c := Counters{Rules: map[RuleVerdict]uint64{}, Reasons: map[string]uint64{}}
	limit := (maxRule + 1) * 4
	add := func(idx uint32, per []uint64) {
		if n := sum(per); n > 0 && idx%4 != 0 && idx < limit {
			c.Rules[RuleVerdict{Rule: table.RuleID(idx / 4), Verdict: Verdict(idx % 4)}] = n
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
	for r := uint32(1); r < uint32(numReasons); r++ {
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
