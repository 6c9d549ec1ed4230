package validation

import (
	"errors"
	"fmt"
	"strings"
)

// MaxPatternLen is the longest path pattern a rule may hold, in bytes
// (compiler.MaxPathKey minus the NUL that ends exact patterns).
const MaxPatternLen = 127

// ErrNonCanonical is wrapped by CanonicalPattern's errors.
var ErrNonCanonical = errors.New("non-canonical path")

// CanonicalPattern reports why pattern is not a canonical path in the sense
// of docs/semantics.md ("Non-canonical paths are denied"), or nil. wildcards
// lists bytes that are allowed although a request path could not hold them
// ("*?" for globs).
func CanonicalPattern(pattern, wildcards string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrNonCanonical, fmt.Sprintf(format, args...))
	}
	if !strings.HasPrefix(pattern, "/") {
		return bad("does not start with /")
	}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c < 0x21 || c >= 0x7f:
			return bad("byte 0x%02x at offset %d (control, space or non-ASCII; percent-encode it)", c, i)
		case c == '\\':
			return bad("backslash at offset %d", i)
		case c == '%':
			if i+2 >= len(pattern) || !isHex(pattern[i+1]) || !isHex(pattern[i+2]) {
				return bad("%% at offset %d is not followed by two hex digits", i)
			}
			d := unhex(pattern[i+1])<<4 | unhex(pattern[i+2])
			if isUnreserved(d) || d == '/' || d == '\\' {
				return bad("%s at offset %d encodes %q, which must be written as is", pattern[i:i+3], i, rune(d))
			}
		case (c == '?' || c == '#') && !strings.ContainsRune(wildcards, rune(c)):
			return bad("%q at offset %d: query and fragment are removed before matching", c, i)
		}
	}
	for _, seg := range strings.Split(pattern[1:], "/") {
		switch seg {
		case ".", "..":
			return bad("contains a %q segment", seg)
		}
	}
	// An empty segment is "//"; a single trailing slash is fine.
	if strings.Contains(pattern, "//") {
		return bad("contains //")
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// IsToken reports whether s is an HTTP method token (RFC 9110 tchar+).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
