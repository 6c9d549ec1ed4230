package datapath

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/bpf/shared"
	"github.com/axon-dev/axon/policy/table"
	"github.com/cilium/ebpf/ringbuf"
)

const eventDecision = uint8(shared.SharedAxWireAX_EVENT_DECISION) // the first byte of a record

// Event is one deny or audit_deny decision.
type Event struct {
	Verdict  Verdict
	Reason   Reason
	Rule     table.RuleID
	Endpoint uint32
	Identity uint32
	Src, Dst netip.AddrPort
	Method   string        // at most 16 bytes
	Path     string        // canonical form (docs/semantics.md), at most the first 128 bytes
	PathLen  int           // of the whole path, in canonical form
	Time     time.Duration // CLOCK_MONOTONIC
}

// EventReader reads events; Close it to stop.
type EventReader struct {
	rd *ringbuf.Reader
}

// Events opens a reader on the event ring. One reader at a time.
func (d *Datapath) Events() (*EventReader, error) {
	rd, err := ringbuf.NewReader(d.objs.Events)
	if err != nil {
		return nil, fmt.Errorf("opening event ring: %w", err)
	}
	return &EventReader{rd: rd}, nil
}

// SetDeadline makes Read return os.ErrDeadlineExceeded after t.
func (r *EventReader) SetDeadline(t time.Time) { r.rd.SetDeadline(t) }

// Read blocks for the next event. After Close it returns ringbuf.ErrClosed.
func (r *EventReader) Read() (Event, error) {
	for {
		rec, err := r.rd.Read()
		if err != nil {
			return Event{}, err
		}
		if len(rec.RawSample) == 0 || rec.RawSample[0] != eventDecision {
			continue // a type this version does not know
		}
		return decodeEvent(rec.RawSample)
	}
}

// Close stops the reader.
func (r *EventReader) Close() error { return r.rd.Close() }

func decodeEvent(b []byte) (Event, error) {
	var e bpf.AxonAxEvent
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, &e); err != nil {
		return Event{}, errors.Join(errors.New("decoding event"), err)
	}
	ml := min(int(e.MethodLen), len(e.Method))
	pl := min(int(e.PathLen), len(e.Path))
	return Event{
		Verdict:  Verdict(e.Verdict),
		Reason:   Reason(e.Reason),
		Rule:     table.RuleID(e.Rule),
		Endpoint: e.Endpoint,
		Identity: e.Identity,
		Src:      netip.AddrPortFrom(netip.AddrFrom16(e.Saddr).Unmap(), e.Sport),
		Dst:      netip.AddrPortFrom(netip.AddrFrom16(e.Daddr).Unmap(), e.Dport),
		Method:   string(e.Method[:ml]),
		Path:     string(e.Path[:pl]),
		PathLen:  int(e.PathLen),
		Time:     time.Duration(e.TsNs),
	}, nil
}
