package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/axon-dev/axon/bpf"
)

// cutTrace is what the program did with a stream sent in segments: the
// first segment it did not pass (seg -1: it passed them all), the counters
// that moved, and the flow's parser state afterwards.
type cutTrace struct {
	seg    int
	lo, hi int // the bytes of that segment
	out    outcome
	counts map[string]uint64 // counter deltas
	only   []counterKey      // the counters read (nil: all)
	state  string            // parser fields of the flow (flowParserState)
}

// counterSnapshot reads the reason and per-rule counters, but the event
// ring's (the tests do not read the ring: whether an event found room in
// it says nothing about the parser). With only, the counters it names
// ("reason NAME", "rule ID VERDICT"): a cheaper read.
func (d *Datapath) counterSnapshot(t testing.TB, only []counterKey) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	if only != nil {
		for _, k := range only {
			var per []uint64
			var err error
			if k.rule {
				err = d.objs.RuleStats.Lookup(k.id*4+uint32(k.v), &per)
			} else {
				err = d.objs.ReasonStats.Lookup(k.id, &per)
			}
			if err != nil {
				t.Fatal(err)
			}
			m[k.String()] = sum(per)
		}
		return m
	}
	c, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range c.Reasons {
		m["reason "+name] = n
	}
	delete(m, "reason "+ReasonEventLost.String())
	delete(m, "reason "+ReasonEventLimited.String())
	for rv, n := range c.Rules {
		m[counterKey{rule: true, id: uint32(rv.Rule), v: rv.Verdict}.String()] = n
	}
	return m
}

// counterKey names one counter.
type counterKey struct {
	rule bool
	id   uint32 // rule ID or Reason
	v    Verdict
}

func (k counterKey) String() string {
	if k.rule {
		return fmt.Sprintf("rule %d %v", k.id, k.v)
	}
	return "reason " + Reason(k.id).String()
}

// parseReasons are the reasons a parser difference would count.
var parseReasons = []counterKey{{id: uint32(ReasonNotHTTP)}, {id: uint32(ReasonMalformed)}, {id: uint32(ReasonNonCanonical)}, {id: uint32(ReasonUpgrade)}}

// keysOf lists the parse reasons and the per-rule counters of counts.
func keysOf(counts map[string]uint64) []counterKey {
	keys := append([]counterKey{}, parseReasons...)
	for id := uint32(0); id < MaxRules; id++ {
		for _, v := range []Verdict{VerdictAllow, VerdictDeny, VerdictAuditDeny} {
			if k := (counterKey{rule: true, id: id, v: v}); counts[k.String()] != 0 {
				keys = append(keys, k)
			}
		}
		if len(keys) == len(parseReasons)+len(counts) {
			break
		}
	}
	return keys
}

// flowParserState is the flow's parser state, every field the parser
// reads but next_seq (a refused segment leaves it at that segment's start),
// name_pos when name_ok is 0 (the skip of a header name that can no longer
// be one the parser needs leaves it where it is; nothing reads it then) and
// ver_pos outside the version (the version word with its CRLF leaves it; it
// is set before it is read). Empty when the flow is gone.
func (d *Datapath) flowParserState(t testing.TB, f *flow) string {
	t.Helper()
	k := flowKey(f)
	var v bpf.AxonAxFlow
	if err := d.objs.Flows.Lookup(&k, &v); err != nil {
		return ""
	}
	if v.NameOk == 0 {
		v.NamePos = 0
	}
	if v.State != 0 || v.Sub != 5 { // AX_ST_LINE, AX_R_VERSION
		v.VerPos = 0
	}
	return fmt.Sprintf("state %d sub %d tgt %d pct %d/%d abs %d method %q flags %#x hflags %#x name %d/%d ver %d h %d,%d,%d te %#x path %q (%d) nreq %d remaining %d value %d cl %d",
		v.State, v.Sub, v.Tgt, v.Pct, v.PctHi, v.AbsPos, v.Method[:min(int(v.MethodLen), len(v.Method))], v.Flags, v.Hflags,
		v.NamePos, v.NameOk, v.VerPos, v.H0, v.H1, v.H2, v.TePos, strings.TrimRight(string(v.Path[:]), "\x00"), v.PathLen, v.Nreq, v.Remaining, v.Value, v.Cl)
}

// sendCuts sends data on a new flow from src to dst, cut before each offset
// of cuts (increasing, inside data), and stops at the first segment the
// program does not pass. only: see counterSnapshot.
func sendCuts(t testing.TB, d *Datapath, src netip.Addr, dst netip.AddrPort, data string, cuts []int, only []counterKey) cutTrace {
	t.Helper()
	before := d.counterSnapshot(t, only)
	f := newFlow(t, d.Ingress(), src, dst)
	tr := cutTrace{seg: -1, only: only}
	lo := 0
	for i := 0; i <= len(cuts); i++ {
		hi := len(data)
		if i < len(cuts) {
			hi = cuts[i]
		}
		if o := f.send(data[lo:hi]); o != passed {
			tr.seg, tr.lo, tr.hi, tr.out = i, lo, hi, o
			break
		}
		lo = hi
	}
	after := d.counterSnapshot(t, only)
	tr.counts = map[string]uint64{}
	for k, v := range after {
		if v != before[k] {
			tr.counts[k] = v - before[k]
		}
	}
	tr.state = d.flowParserState(t, f)
	d.dropFlow(f)
	return tr
}

// bytewise sends data one byte per segment: every multi-byte step of the
// parser then takes at most one byte (the version word and a CRLF need two
// or more in one segment), which is the parser's byte-at-a-time definition.
func bytewise(t testing.TB, d *Datapath, src netip.Addr, dst netip.AddrPort, data string) cutTrace {
	t.Helper()
	cuts := make([]int, 0, len(data))
	for i := 1; i < len(data); i++ {
		cuts = append(cuts, i)
	}
	return sendCuts(t, d, src, dst, data, cuts, nil)
}

// sameAsBytewise says how got (data sent cut at cuts) differs from ref (the
// same data in one-byte segments), or "": the segment holding the byte ref
// refused must be the one refused, with the same outcome, counters (those
// got read) and parser state.
func sameAsBytewise(ref, got cutTrace) string {
	if (ref.seg < 0) != (got.seg < 0) {
		if ref.seg < 0 {
			return fmt.Sprintf("segment [%d,%d) %v; byte by byte every byte passed", got.lo, got.hi, got.out)
		}
		return fmt.Sprintf("every segment passed; byte by byte byte %d was %v", ref.lo, ref.out)
	}
	if ref.seg >= 0 && (ref.lo < got.lo || ref.lo >= got.hi || ref.out != got.out) {
		return fmt.Sprintf("segment [%d,%d) %v; byte by byte byte %d was %v", got.lo, got.hi, got.out, ref.lo, ref.out)
	}
	want := ref.counts
	if got.only != nil {
		want = map[string]uint64{}
		for _, k := range got.only {
			if n := ref.counts[k.String()]; n != 0 {
				want[k.String()] = n
			}
		}
	}
	if a, b := fmt.Sprint(want), fmt.Sprint(got.counts); a != b {
		return fmt.Sprintf("counted %s; byte by byte %s", b, a)
	}
	if ref.state != got.state {
		return fmt.Sprintf("flow %s; byte by byte %s", got.state, ref.state)
	}
	return ""
}
