package datapath

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// FuzzStreamSegments sends a fuzzed client stream (request lines, headers,
// bodies, pipelined requests) to an enforced or an Audit-only endpoint one
// byte per segment, the parser's byte-at-a-time definition, then whole and
// cut at boundaries drawn from seed: the segment holding the byte refused
// byte by byte must be the one refused, with the same outcome, counters and
// parser state (TestMultiByteSteps' check on any bytes). Streams holding
// "websocket" are left out: an allowed Upgrade: websocket that ends a
// segment makes the flow wait for the server's answer, so its segments
// differ by design. At most 320 bytes: each input is sent about five times,
// once in as many segments as it has bytes.
func FuzzStreamSegments(f *testing.F) {
	for i, c := range multiStepCases {
		f.Add(c.ok+c.bad, uint64(i), false)
	}
	for i, c := range framingCases {
		f.Add(c.ok+c.bad, uint64(1000+i), i%4 == 0)
	}
	f.Add(msLine+"Host: o\r\n\r\nGET /ok"+strings.Repeat("/"+a(15), 3)+" HTTP/1.0\r\n\r\n", uint64(7), true)
	d := sharedTest(f)
	tab := fixtureTable(f)
	legacy := fuzzServers[2] // Audit mode only
	applied := false
	f.Fuzz(func(t *testing.T, data string, seed uint64, audit bool) {
		if data == "" || len(data) > 320 || strings.Contains(strings.ToLower(data), "websocket") {
			return
		}
		if !applied {
			if err := d.Apply(tab); err != nil {
				t.Fatal(err)
			}
			applied = true
		}
		dst := orders4
		if audit {
			dst = legacy
		}
		ref := bytewise(t, d, web4, dst, data)
		if diff := sameAsBytewise(ref, sendCuts(t, d, web4, dst, data, nil, nil)); diff != "" {
			t.Fatalf("%q to %v whole: %s", data, dst, diff)
		}
		r := rand.New(rand.NewPCG(seed, seed>>32))
		only := keysOf(ref.counts)
		for n := 0; n < 3; n++ {
			set := map[int]bool{}
			for k := r.IntN(len(data)/2 + 1); k > 0; k-- {
				set[1+r.IntN(len(data))] = true
			}
			var cuts []int
			for c := range set {
				if c < len(data) {
					cuts = append(cuts, c)
				}
			}
			sort.Ints(cuts)
			if diff := sameAsBytewise(ref, sendCuts(t, d, web4, dst, data, cuts, only)); diff != "" {
				t.Fatalf("%q to %v cut at %v: %s", data, dst, cuts, diff)
			}
		}
	})
}
