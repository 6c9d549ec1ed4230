package compiler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestClassifyMatchesSignatures checks classify against the direct
// definition: identities with the same list of satisfied (not universal)
// conditions share a class, numbered by first identity.
func TestClassifyMatchesSignatures(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		n := 1 + rng.IntN(300)
		srcBits := make([]bitset, rng.IntN(12))
		for k := range srcBits {
			switch rng.IntN(4) {
			case 0:
				srcBits[k] = newBitset(n, true)
			case 1:
				srcBits[k] = newBitset(n, false)
			default:
				b := newBitset(n, false)
				p := rng.Float64()
				for i := 0; i < n; i++ {
					if rng.Float64() < p {
						b.set(i)
					}
				}
				srcBits[k] = b
			}
		}
		idClass, classSigs, err := classify(n, srcBits)
		if err != nil {
			t.Fatal(err)
		}
		byKey := map[string]uint16{}
		var wantSigs [][]int32
		for i := 0; i < n; i++ {
			var sig []int32
			for k, b := range srcBits {
				if b.count() != n && b.has(i) {
					sig = append(sig, int32(k))
				}
			}
			key := fmt.Sprint(sig)
			c, ok := byKey[key]
			if !ok {
				c = uint16(len(wantSigs))
				byKey[key] = c
				wantSigs = append(wantSigs, sig)
			}
			if idClass[i] != c {
				t.Fatalf("round %d: identity %d in class %d, want %d", round, i, idClass[i], c)
			}
		}
		if len(classSigs) != len(wantSigs) {
			t.Fatalf("round %d: %d classes, want %d", round, len(classSigs), len(wantSigs))
		}
		for c := range wantSigs {
			if !slices.Equal(classSigs[c], wantSigs[c]) {
				t.Fatalf("round %d: class %d satisfies %v, want %v", round, c, classSigs[c], wantSigs[c])
			}
		}
	}
}
