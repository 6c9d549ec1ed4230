package datapath

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// TestCompiledGlobMatchesReference runs the datapath's glob automaton (in Go,
// the same arithmetic as bpf/include/decide.h) against table.MatchGlob on
// random patterns and paths over a small alphabet, so that they collide.
func TestCompiledGlobMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"/", "a", "b", "*", "**", "?", ".", "-", "ab"}
	pathBytes := "/ab.-c"
	for i := 0; i < 20000; i++ {
		var pb strings.Builder
		pb.WriteString("/")
		for n := r.IntN(8); n > 0; n-- {
			pb.WriteString(pieces[r.IntN(len(pieces))])
		}
		pattern := pb.String()
		g, err := compileGlob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 10; j++ {
			var b strings.Builder
			b.WriteByte('/')
			for n := r.IntN(12); n > 0; n-- {
				b.WriteByte(pathBytes[r.IntN(len(pathBytes))])
			}
			path := b.String()
			want := table.MatchGlob(pattern, path)
			if got := matchCompiled(&g, path); got != map[bool]int{false: globNo, true: globYes}[want] {
				t.Fatalf("glob %q path %q: datapath %d, reference %v", pattern, path, got, want)
			}
		}
	}
}

func TestCompileGlobBounds(t *testing.T) {
	var b strings.Builder
	b.WriteByte('/')
	for c := byte('!'); c < '~' && b.Len() < 100; c++ {
		if !strings.ContainsRune("*?/\\[]{}", rune(c)) {
			b.WriteByte(c)
		}
	}
	if _, err := compileGlob(b.String()); err == nil {
		t.Fatalf("a glob naming %d distinct bytes compiled; want ErrTableTooLarge", b.Len())
	}
}
