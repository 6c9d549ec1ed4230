package evasion

import (
	"encoding/binary"
	"testing"
	"time"
)

// fragments6 splits a transport payload into IPv6 fragments (data parts of
// the given sizes, multiples of 8, the rest last), each with the extension
// headers pre before its fragment header.
func fragments6(h IPv6, pre []ExtHeader, payload []byte, id uint32, sizes ...int) [][]byte {
	frag := func(off int, more bool, part []byte) []byte {
		body := make([]byte, 6)
		fo := uint16(off/8) << 3
		if more {
			fo |= 1
		}
		// after next header and reserved: offset<<3|M, identification
		binary.BigEndian.PutUint16(body[0:], fo)
		binary.BigEndian.PutUint32(body[2:], id)
		x := h
		x.Ext = append(append([]ExtHeader(nil), pre...), ExtHeader{Proto: 44, Body: body})
		return x.Marshal(part)
	}
	var out [][]byte
	off := 0
	for _, n := range sizes {
		if off+n >= len(payload) {
			break
		}
		out = append(out, frag(off, true, payload[off:off+n]))
		off += n
	}
	return append(out, frag(off, false, payload[off:]))
}

// TestRedteamAuditGapIPv6Fragments (rt34, held if it passes): the rt33
// attack with IPv6 fragments (a fragment header alone, and behind a
// destination-options header) instead of IPv4 ones.
func TestRedteamAuditGapIPv6Fragments(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.78", "fd78", 5)
	srvs, a := policedTopo(t, tp, "Audit")
	methods := map[string][]ExtHeader{"frag": nil, "dstopts-frag": {DestOpts(8)}}
	type held struct {
		f       *Flow
		n       int
		tok, ok string
	}
	hs := map[string]held{}
	id := uint32(7000)
	for _, s := range srvs {
		for name, pre := range methods {
			tp.rawControl(t, s, true)
			tok, okTok, A, Ap := gapHeads("gap6")
			f := tp.connect(t, s.Port(), true, nil)
			sendDroppedCopy(t, f, A)
			seg := Segment{SrcPort: f.Local.Port(), DstPort: f.Remote.Port(), Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: Ap}
			id++
			h := IPv6{Src: f.Local.Addr(), Dst: f.Remote.Addr(), Proto: ProtoTCP}
			for _, fr := range fragments6(h, pre, seg.Marshal(f.Local.Addr(), f.Remote.Addr()), id, 24) {
				must(t, f.SendIP(fr))
			}
			hs[s.Name()+"/"+name] = held{f, len(A), tok, okTok}
		}
	}
	time.Sleep(300 * time.Millisecond)
	t.Logf("while Audit-only: %s", metricsSummary(a))
	tp.policy("Enforce", "")
	waitGeneration(t, a, 2, 10*time.Second)
	forServers(t, srvs, func(t *testing.T, s server) {
		for name := range methods {
			hd := hs[s.Name()+"/"+name]
			f := hd.f
			must(t, f.Data(f.ISN+1+uint32(hd.n), []byte("\r\n\r\n")))
			resp, rst := f.Response("\r\n\r\n", time.Second)
			t.Logf("%s %s: %s; agent: %s", s.Name(), name, describe(resp, rst), metricsSummary(a))
			if logged(s, hd.ok) {
				t.Errorf("the bad-checksum copy ran on %s", s.Name())
			}
			expectNeverRun(t, s, hd.tok, name+": a denied head held in IPv6 fragments (audit gap), ended after the switch to Enforce ("+describe(resp, rst)+")")
		}
	})
}
