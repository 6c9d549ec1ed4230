package validation_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/api/v1alpha1/validation"
	"github.com/axon-dev/axon/policy/httppath"
	"github.com/axon-dev/axon/policy/table"
)

// A glob that no canonical path can match is refused, never admitted: every
// glob ValidatePolicy accepts matches at least one canonical path (its own
// text with each ? replaced by x, in canonical form), so "a glob that can
// never match" needs no warning of its own. Globs only non-canonical paths
// could match (a bare %, a dot segment) are errors.
func TestEveryValidGlobCanMatch(t *testing.T) {
	for _, g := range []string{"/a/%?", "/a/.?/../x", "/a/*//b", "/x*%"} {
		if errs, _ := validation.ValidatePolicy(globPolicy(g)); len(errs) == 0 {
			t.Errorf("glob %q matches no canonical path but is accepted", g)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"/", "a", ".", "%", "2", "3", "F", "f", "*", "?", "**", "%3F", "%25", "%40", "-"}
	accepted := 0
	for range 20000 {
		g := "/"
		for range 1 + r.IntN(7) {
			g += alphabet[r.IntN(len(alphabet))]
		}
		if errs, _ := validation.ValidatePolicy(globPolicy(g)); len(errs) > 0 {
			continue
		}
		accepted++
		canon := httppath.Canonical(g)
		witness := strings.ReplaceAll(canon, "?", "x")
		if httppath.Check(witness) != nil || httppath.Canonical(witness) != witness || !table.MatchGlob(canon, witness) {
			t.Fatalf("accepted glob %q: %q is not a canonical path it matches", g, witness)
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d of the random globs were accepted", accepted)
	}
}

func globPolicy(glob string) *v1alpha1.L7NetworkPolicy {
	p := &v1alpha1.L7NetworkPolicy{}
	p.Name, p.Namespace = "g", "ns"
	p.Spec.Ports = []v1alpha1.PortSpec{{Port: 80}}
	p.Spec.Rules = []v1alpha1.Rule{{HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Glob: glob}}}}}}
	return p
}
