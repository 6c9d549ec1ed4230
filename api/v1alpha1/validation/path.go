package validation

import (
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

// IsToken reports whether s is an HTTP method token (RFC 9110 tchar+).
func IsToken(s string) bool { return httppath.IsToken(s) }
