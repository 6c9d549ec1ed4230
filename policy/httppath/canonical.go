package httppath

import (
	"errors"
	"fmt"
	"strings"

	"github.com/axon-dev/axon/bpf/shared"
)

// ErrNonCanonical is wrapped by every error of Check.
var ErrNonCanonical = errors.New("non-canonical path")

// Check reports why p is not a canonical path, or nil. A canonical path is
// "*" (the asterisk form), or starts with "/" and has no empty, "." or ".."
// segment (a single trailing "/" is allowed), no backslash, semicolon or
// "#", no byte that is a control character, a space or not ASCII, and no
// percent-escape that is malformed or encodes an unreserved character, "/"
// or "\". Check says nothing about the spelling of escapes: Canonical gives
// the one form that rules and requests are compared in.
func Check(p string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrNonCanonical, fmt.Sprintf(format, args...))
	}
	if p == "*" {
		return nil
	}
	if p == "" || p[0] != '/' {
		return bad("does not start with /")
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case NeverInPath(c):
			return fmt.Errorf("%w: %s", ErrNonCanonical, neverWhy(c, i))
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return bad("%% at offset %d is not followed by two hex digits", i)
			}
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if isUnreserved(d) || d == '/' || d == '\\' {
				return bad("%s at offset %d encodes %q, which must be written as is", p[i:i+3], i, rune(d))
			}
		case c == '/':
			// The segment after this slash must not be empty, "." or "..",
			// except that a single trailing slash is an empty last segment
			// that servers treat as a directory, not a traversal.
			seg := p[i+1:]
			if j := strings.IndexByte(seg, '/'); j >= 0 {
				seg = seg[:j]
				if seg == "" {
					return bad("contains //")
				}
			}
			if seg == "." || seg == ".." {
				return bad("contains a %q segment", seg)
			}
		}
	}
	return nil
}

// NeverInPath reports whether byte c is refused wherever it stands in a
// path (Check): a control byte, space or non-ASCII byte, a backslash, "#"
// or ";". A prefix of a canonical path has none either.
func NeverInPath(c byte) bool {
	return c < 0x21 || c >= 0x7f || c == '\\' || c == '#' || c == ';'
}

// neverWhy says why Check refuses byte c (NeverInPath) at offset i.
func neverWhy(c byte, i int) string {
	switch c {
	case '\\':
		return fmt.Sprintf("backslash at offset %d", i)
	case '#':
		// Servers that take "#" as a path byte (Go's FileServer) serve
		// what follows it: the path matched would not be theirs.
		return fmt.Sprintf("# at offset %d (a request target has no fragment)", i)
	case ';':
		// Servlet containers cut ";params" off each segment and resolve
		// "..;": the path they serve is not the one matched.
		return fmt.Sprintf("semicolon at offset %d (path parameters; percent-encode it as %%3B)", i)
	}
	return fmt.Sprintf("byte 0x%02x at offset %d (control, space or non-ASCII; percent-encode it)", c, i)
}

// MaxMethodLen is the longest method token a rule may name: the datapath
// keeps this many bytes of a request's method (AX_METHOD_MAX), so a longer
// token could never match there.
const MaxMethodLen = int(shared.SharedAxBoundAX_BOUND_METHOD_MAX)

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

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
