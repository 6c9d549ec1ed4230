package table

import "github.com/axon-dev/axon/bpf/shared"

// MatchGlob matches path against a pattern of the supported subset with '/'
// as separator, as gobwas/glob does: '*' matches a possibly empty run of bytes
// other than '/', '**' (two or more stars) any run, '?' one byte other than '/'.
// It simulates the pattern's automaton: O(len(pattern) * len(path)).
func MatchGlob(pattern, path string) bool {
	toks := GlobTokens(pattern)
	cur := runGlob(toks, path)
	return cur != nil && cur[len(toks)]
}

// MaxGlobPath is how many bytes of a path the datapath tests globs on (the
// flow's path buffer, AX_PATH_BUF).
const MaxGlobPath = int(shared.SharedAxBoundAX_BOUND_PATH_BUF)

// GlobResult is the outcome of a glob test bounded to MaxGlobPath bytes.
type GlobResult uint8

// Results of MatchGlobBounded.
const (
	GlobNo        = GlobResult(shared.SharedAxGlobResultAX_GLOB_NO)
	GlobYes       = GlobResult(shared.SharedAxGlobResultAX_GLOB_YES)
	GlobUndecided = GlobResult(shared.SharedAxGlobResultAX_GLOB_UNDECIDED) // the path is longer than MaxGlobPath and its first bytes do not decide
)

// MatchGlobBounded is MatchGlob as the datapath decides it (docs/semantics.md
// "Path patterns", the bound): on a path longer than MaxGlobPath bytes, a
// pattern ending in '**' that matches the first MaxGlobPath bytes matches,
// one that cannot match them does not, and any other is undecided.
func MatchGlobBounded(pattern, path string) GlobResult {
	toks := GlobTokens(pattern)
	n := len(toks)
	cur := runGlob(toks, path[:min(len(path), MaxGlobPath)])
	switch {
	case cur == nil:
		return GlobNo
	case len(path) <= MaxGlobPath && cur[n]:
		return GlobYes
	case len(path) <= MaxGlobPath:
		return GlobNo
	case n > 0 && toks[n-1] == GlobSuper && cur[n-1]:
		return GlobYes
	}
	return GlobUndecided
}

// runGlob runs the automaton of toks over path and returns its live states,
// nil when none is left.
func runGlob(toks []int, path string) []bool {
	n := len(toks)
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	cur[0] = true
	closeEps(toks, cur)
	for i := 0; i < len(path); i++ {
		b := path[i]
		clear(next)
		any := false
		for st := 0; st < n; st++ {
			if !cur[st] {
				continue
			}
			switch t := toks[st]; {
			case t == GlobSuper:
				next[st], any = true, true
			case t == GlobStar:
				if b != '/' {
					next[st], any = true, true
				}
			case t == GlobOne:
				if b != '/' {
					next[st+1], any = true, true
				}
			case int(b) == t:
				next[st+1], any = true, true
			}
		}
		if !any {
			return nil
		}
		closeEps(toks, next)
		cur, next = next, cur
	}
	return cur
}

// Glob tokens other than literal bytes (which are >= 0).
const (
	GlobStar  = -1 // '*': a run of bytes other than '/'
	GlobSuper = -2 // '**' (two or more stars): any run
	GlobOne   = -3 // '?': one byte other than '/'
)

// GlobTokens splits a glob pattern into literal bytes (>= 0) and the
// wildcard tokens GlobStar, GlobSuper and GlobOne. The reference matcher and
// the datapath's glob automaton both start from it.
func GlobTokens(p string) []int {
	var out []int
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*':
			j := i
			for j < len(p) && p[j] == '*' {
				j++
			}
			if j-i >= 2 {
				out = append(out, GlobSuper)
			} else {
				out = append(out, GlobStar)
			}
			i = j - 1
		case '?':
			out = append(out, GlobOne)
		default:
			out = append(out, int(p[i]))
		}
	}
	return out
}

// closeEps adds the states reachable by letting stars match nothing.
func closeEps(toks []int, set []bool) {
	for st := 0; st < len(toks); st++ {
		if set[st] && (toks[st] == GlobStar || toks[st] == GlobSuper) {
			set[st+1] = true
		}
	}
}
