package datapath

import (
	"errors"
	"fmt"
	"time"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Flow states the expiry looks at (enum ax_state in bpf/include/flow_state.h).
const (
	flowStatePass   = 7
	flowStateReset  = 8
	flowStateClosed = 9
	flowStateTunnel = 11
)

// FlowExpiry says when ExpireFlows deletes a flow: the datapath never evicts
// one itself (flooding must not be able to push out a live connection's
// state), so without expiry the table only fills.
type FlowExpiry struct {
	// Ended: flows of connections reset or closed by the client, after
	// this long without a SYN-ACK or client data.
	Ended time.Duration
	// Idle: any other flow after this long. Its connection's next data is
	// then refused (reset), as for a connection whose start was not seen.
	Idle time.Duration
}

// DefaultFlowExpiry keeps idle keep-alive connections for an hour.
var DefaultFlowExpiry = FlowExpiry{Ended: 30 * time.Second, Idle: time.Hour}

// FlowStats is what one ExpireFlows pass saw.
type FlowStats struct {
	Live, Expired int
	Pending       int // of Live, those a sweep kept to look at again (ForgetUnverifiedFlowsOn)
}

// ExpireFlows deletes the flows e says have ended or idled out, and those
// of connections whose endpoint the table in force does not police (see
// ForgetUnpolicedFlows: this pass is the backstop of the one Apply runs).
func (d *Datapath) ExpireFlows(e FlowExpiry) (FlowStats, error) {
	now, err := Monotonic()
	if err != nil {
		return FlowStats{}, err
	}
	policed, err := d.flowPoliced()
	if err != nil {
		return FlowStats{}, err
	}
	return d.sweepFlows(func(k *bpf.AxonAxFlowKey, v *bpf.AxonAxFlow) sweep {
		if !policed(k, v) {
			return forget
		}
		age := now - time.Duration(v.LastNs)
		if time.Duration(v.LastNs) > now {
			age = 0
		}
		limit := e.Idle
		if v.State == flowStateReset || v.State == flowStateClosed {
			limit = e.Ended
		}
		if age > limit {
			return expire
		}
		return keep
	})
}

// Monotonic reads CLOCK_MONOTONIC, the clock of the flows' timestamps
// (bpf_ktime_get_ns).
func Monotonic() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("reading the monotonic clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// sweep is what sweepFlows does with a flow.
type sweep int

const (
	keep sweep = iota
	// pending: keep, and count it in FlowStats.Pending.
	pending
	// expire: delete, unless its connection moved (its LastNs changed)
	// since: in use again, or a new connection on the same ports.
	expire
	// forget: delete whatever it did since (it may have been used from
	// a stale position).
	forget
)

// sweepAttempts is how many times sweepFlows walks the flow table when a
// walk is aborted: flows deleted under it (their connections' RSTs) make
// the kernel restart the walk, and too many restarts abort it.
const sweepAttempts = 8

// sweepFlows deletes the flows doomed says to.
func (d *Datapath) sweepFlows(doomed func(*bpf.AxonAxFlowKey, *bpf.AxonAxFlow) sweep) (FlowStats, error) {
	var (
		st   FlowStats
		k    bpf.AxonAxFlowKey
		v    bpf.AxonAxFlow
		dead []bpf.AxonAxFlowKey
		seen []uint64 // LastNs of each expired flow, 0 for a forgotten one
		err  error
	)
	for range sweepAttempts {
		st, dead, seen = FlowStats{}, dead[:0], seen[:0]
		it := d.objs.Flows.Iterate()
		for it.Next(&k, &v) {
			switch doomed(&k, &v) {
			case expire:
				dead = append(dead, k)
				seen = append(seen, max(v.LastNs, 1))
			case forget:
				dead = append(dead, k)
				seen = append(seen, 0)
			case pending:
				st.Live++
				st.Pending++
			default:
				st.Live++
			}
		}
		if err = it.Err(); !errors.Is(err, ebpf.ErrIterationAborted) {
			break
		}
	}
	if err != nil {
		return st, fmt.Errorf("reading flows: %w", err)
	}
	for i, k := range dead {
		if seen[i] != 0 && (d.objs.Flows.Lookup(k, &v) != nil || max(v.LastNs, 1) != seen[i]) {
			st.Live++
			continue
		}
		if err := d.objs.Flows.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return st, fmt.Errorf("deleting flow: %w", err)
		}
		st.Expired++
	}
	return st, nil
}
