package validation

import (
	"errors"
	"fmt"
	"strings"

	"github.com/axon-dev/axon/policy/httppath"
	"github.com/axon-dev/axon/policy/table"
)

// MaxPatternLen is the longest path pattern a rule may hold, in bytes
// (table.MaxPathKey minus the NUL that ends exact patterns).
const MaxPatternLen = table.MaxPathKey - 1

// ErrNonCanonical is wrapped by CanonicalPattern's errors.
var ErrNonCanonical = httppath.ErrNonCanonical

// CanonicalPattern reports why pattern is not a canonical path in the sense
// of docs/semantics.md ("Non-canonical paths are denied"), or nil. wildcards
// lists bytes that are allowed although a request path could not hold them
// ("*?" for globs).
func CanonicalPattern(pattern, wildcards string) error {
	if !strings.HasPrefix(pattern, "/") {
		return fmt.Errorf("%w: does not start with /", ErrNonCanonical)
	}
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; (c == '?' || c == '#') && !strings.ContainsRune(wildcards, rune(c)) {
			return fmt.Errorf("%w: %q at offset %d: query and fragment are removed before matching", ErrNonCanonical, c, i)
		}
	}
	// A glob's "?" stands for one path byte: check the pattern with an
	// ordinary byte in its place.
	return httppath.Check(strings.ReplaceAll(pattern, "?", "x"))
}

// GlobPattern reports why a glob pattern is outside the supported subset
// (docs/semantics.md "Path patterns"), or nil: at most MaxPatternLen bytes,
// a canonical path apart from its wildcards, only *, ** and ?, and no
// escape the canonical form would turn into glob syntax. The validation of
// L7NetworkPolicy globs and the compiler's glob.match in Rego both use it.
func GlobPattern(pat string) error {
	if len(pat) > MaxPatternLen {
		return fmt.Errorf("longer than %d bytes", MaxPatternLen)
	}
	if i := strings.IndexAny(pat, "[]{}\\"); i >= 0 {
		return fmt.Errorf("%q at offset %d: only *, ** and ? are supported", pat[i], i)
	}
	if err := CanonicalPattern(pat, "*?"); err != nil {
		return err
	}
	if globSyntax(httppath.Canonical(pat)) != globSyntax(pat) {
		// %2A, %5B... are decoded in the canonical form, where they would
		// be glob syntax.
		return errors.New("an escaped *, [, ], { or } in a glob: a glob cannot match it literally")
	}
	if strings.Contains(pat, "***") {
		return errors.New("*** is not a glob wildcard; use * or **")
	}
	return nil
}

func globSyntax(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte("*[]{}", s[i]) >= 0 {
			n++
		}
	}
	return n
}

// IsToken reports whether s is an HTTP method token (RFC 9110 tchar+).
func IsToken(s string) bool { return httppath.IsToken(s) }
