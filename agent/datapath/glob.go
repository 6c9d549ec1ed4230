package datapath

import (
	"fmt"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/bpf/shared"
	"github.com/axon-dev/axon/policy/table"
)

const (
	maxGlobTokens  = int(shared.SharedAxBoundAX_BOUND_GLOB_TOKENS) // states 0..127 fit the 128-bit masks
	maxGlobClasses = int(shared.SharedAxBoundAX_BOUND_GLOB_CLASSES)
	classOther     = 0 // bytes the pattern does not name, other than '/'
	classSlash     = 1
)

func setBit(m *bpf.AxonAxMask128, i int) {
	if i < 64 {
		m.Lo |= 1 << uint(i)
	} else {
		m.Hi |= 1 << uint(i-64)
	}
}

// compileGlob builds the bit-parallel automaton the datapath runs (struct
// ax_glob in bpf/include/axon_shared.h). State j means "tokens before j
// matched"; a star token j loops on j and lets j+1 be reached without input,
// as table.MatchGlob does.
func compileGlob(pattern string) (bpf.AxonAxGlob, error) {
	var g bpf.AxonAxGlob
	toks := table.GlobTokens(pattern)
	if len(toks) > maxGlobTokens {
		return g, fmt.Errorf("%w: glob %q has %d tokens (at most %d)", ErrTableTooLarge, pattern, len(toks), maxGlobTokens)
	}
	next := 2
	g.ClassOf['/'] = classSlash
	for _, t := range toks {
		if t >= 0 && t != '/' && g.ClassOf[t] == 0 {
			if next >= maxGlobClasses {
				return g, fmt.Errorf("%w: glob %q names more than %d distinct bytes", ErrTableTooLarge, pattern, maxGlobClasses-2)
			}
			g.ClassOf[t] = uint8(next)
			next++
		}
	}
	for j, t := range toks {
		switch {
		case t == table.GlobStar:
			setBit(&g.Star, j)
			for k := 0; k < maxGlobClasses; k++ {
				if k != classSlash {
					setBit(&g.Loop[k], j)
				}
			}
		case t == table.GlobSuper:
			setBit(&g.Star, j)
			for k := 0; k < maxGlobClasses; k++ {
				setBit(&g.Loop[k], j)
			}
		case t == table.GlobOne:
			for k := 0; k < maxGlobClasses; k++ {
				if k != classSlash {
					setBit(&g.Consume[k], j)
				}
			}
		default:
			setBit(&g.Consume[g.ClassOf[t]], j)
		}
	}
	g.Ntok = uint8(len(toks))
	if len(toks) > 0 && toks[len(toks)-1] == table.GlobSuper {
		g.TailAny = 1
	}
	return g, nil
}

// Results of matchCompiled, as the datapath's ax_glob_match.
const (
	globNo        = int(table.GlobNo)
	globYes       = int(table.GlobYes)
	globUndecided = int(table.GlobUndecided) // path longer than MaxGlobPath: the datapath fails closed
)

// matchCompiled runs a compiled glob in Go exactly as the datapath does
// (bpf/include/decide.h); the tests compare it with table.MatchGlob.
func matchCompiled(g *bpf.AxonAxGlob, path string) int {
	shl := func(m bpf.AxonAxMask128) bpf.AxonAxMask128 {
		return bpf.AxonAxMask128{Lo: m.Lo << 1, Hi: m.Hi<<1 | m.Lo>>63}
	}
	and := func(a, b bpf.AxonAxMask128) bpf.AxonAxMask128 {
		return bpf.AxonAxMask128{Lo: a.Lo & b.Lo, Hi: a.Hi & b.Hi}
	}
	or := func(a, b bpf.AxonAxMask128) bpf.AxonAxMask128 {
		return bpf.AxonAxMask128{Lo: a.Lo | b.Lo, Hi: a.Hi | b.Hi}
	}
	bit := func(m bpf.AxonAxMask128, i int) bool {
		if i < 64 {
			return m.Lo>>uint(i)&1 == 1
		}
		return m.Hi>>uint(i-64)&1 == 1
	}
	d := bpf.AxonAxMask128{Lo: 1}
	d = or(d, shl(and(d, g.Star)))
	for i := 0; i < min(len(path), MaxGlobPath); i++ {
		k := g.ClassOf[path[i]] & uint8(maxGlobClasses-1)
		d = or(shl(and(d, g.Consume[k])), and(d, g.Loop[k]))
		d = or(d, shl(and(d, g.Star)))
		if d.Lo|d.Hi == 0 {
			return globNo
		}
	}
	m := int(g.Ntok)
	if len(path) > MaxGlobPath {
		if g.TailAny == 1 && m > 0 && bit(d, m-1) {
			return globYes
		}
		return globUndecided
	}
	if bit(d, m) {
		return globYes
	}
	return globNo
}
