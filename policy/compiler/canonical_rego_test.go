package compiler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/axon-dev/axon/policy/httppath"
)

// TestRegoCanonicalForm: the Rego library's canonical_path and
// path_canonical say what httppath.Canonical and httppath.Check say, for
// every escape in every hex spelling and for random paths built from the
// bytes that matter (one definition of the canonical form, checked into
// Rego; the datapath's is checked by agent/datapath TestEveryEscape).
func TestRegoCanonicalForm(t *testing.T) {
	ctx := context.Background()
	comp, err := libraryCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := rego.New(rego.Compiler(comp),
		rego.Query("c = data.axon.authz.canonical_path(input.path); ok = data.axon.authz.path_canonical"),
	).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for c := 0; c < 256; c++ {
		hi, lo := fmt.Sprintf("%X", c>>4), fmt.Sprintf("%X", c&15)
		for _, h := range []string{hi, strings.ToLower(hi)} {
			for _, l := range []string{lo, strings.ToLower(lo)} {
				paths = append(paths, "/e/%"+h+l+"x")
			}
		}
	}
	r := rand.New(rand.NewPCG(9, 13))
	alphabet := []string{"/", ".", "a", "%", "2", "f", "F", "3", "A", "4", "0", "#", "?", ";", "\\", "@", "*", " ", "%2e", "%3a", "%3F", "%25"}
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		b.WriteString("/")
		for n := r.IntN(8); n > 0; n-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		paths = append(paths, b.String())
	}
	paths = append(paths, "*", "/", "/a/", "//", "/a/..", "/a/./b", "/.well-known/x")
	for _, p := range paths {
		rs, err := q.Eval(ctx, rego.EvalInput(map[string]any{"path": p}))
		if err != nil {
			t.Fatal(err)
		}
		// A request path never holds "?" (the query is cut off first);
		// httppath.Check lets it through for glob patterns.
		wantOK := httppath.Check(p) == nil && httppath.Canonical(p) == p && !strings.Contains(p, "?")
		gotOK := len(rs) == 1 && rs[0].Bindings["ok"] == true
		if gotOK != wantOK {
			t.Errorf("path_canonical(%q) = %v, httppath says %v", p, gotOK, wantOK)
		}
		if httppath.Check(p) != nil {
			continue // canonical_path is only defined alike for canonical paths
		}
		if len(rs) == 0 {
			// path_canonical undefined makes the whole query undefined.
			rs, err = rego.New(rego.Compiler(comp), rego.Query("c = data.axon.authz.canonical_path(input.path)"), rego.Input(map[string]any{"path": p})).Eval(ctx)
			if err != nil || len(rs) != 1 {
				t.Fatalf("canonical_path(%q): %v %v", p, rs, err)
			}
		}
		if got, want := rs[0].Bindings["c"], httppath.Canonical(p); got != want {
			t.Errorf("canonical_path(%q) = %q, httppath.Canonical = %q", p, got, want)
		}
	}
}
