package table

import (
	"math/rand/v2"
	"testing"

	gobwas "github.com/gobwas/glob"
)

// TestMatchGlobAgreesWithGobwas checks our matcher against gobwas/glob (what
// OPA's glob.match uses) on random patterns of the supported subset and
// random paths built from the same alphabet.
func TestMatchGlobAgreesWithGobwas(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alpha := []string{"/", "a", "b", "x", ".", "-"}
	wild := []string{"*", "**", "?", "***"}
	for i := 0; i < 20000; i++ {
		pat := "/"
		for n := rng.IntN(7); n > 0; n-- {
			if rng.IntN(3) == 0 {
				pat += wild[rng.IntN(len(wild))]
			} else {
				pat += alpha[rng.IntN(len(alpha))]
			}
		}
		g, err := gobwas.Compile(pat, '/')
		if err != nil {
			t.Fatalf("gobwas rejects %q: %v", pat, err)
		}
		for j := 0; j < 20; j++ {
			path := ""
			for n := rng.IntN(9); n > 0; n-- {
				path += alpha[rng.IntN(len(alpha))]
			}
			if rng.IntN(2) == 0 {
				path = "/" + path
			}
			if got, want := MatchGlob(pat, path), g.Match(path); got != want {
				t.Fatalf("MatchGlob(%q, %q) = %v, gobwas says %v", pat, path, got, want)
			}
		}
	}
}

func TestMatchGlobExamples(t *testing.T) {
	for _, c := range []struct {
		pat, path string
		want      bool
	}{
		{"/api/v1/orders/*/items", "/api/v1/orders/42/items", true},
		{"/api/v1/orders/*/items", "/api/v1/orders/4/2/items", false},
		{"/api/v1/orders/*/items", "/api/v1/orders//items", true},
		{"/static/**", "/static/a/b/c.js", true},
		{"/static/**", "/static", false},
		{"/f?o", "/foo", true},
		{"/f?o", "/f/o", false},
	} {
		if got := MatchGlob(c.pat, c.path); got != c.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", c.pat, c.path, got, c.want)
		}
	}
}
