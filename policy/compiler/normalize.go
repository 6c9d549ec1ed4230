package compiler

import "strings"

// Reasons a request is decided before any rule is consulted.
const (
	ReasonNonCanonicalPath = "non_canonical_path"
	ReasonMalformedRequest = "malformed_request"
	ReasonNotHTTP          = "not_http"
)

// MaxPath is the longest path (after removing query and fragment) that the
// datapath decides; longer ones are malformed_request.
const MaxPath = 4096

// NormalizePath reduces a raw request target to the path that rules match, as
// docs/semantics.md says, and reports why the request must be decided without
// rules ("" when the path is canonical). It never rewrites a path: a
// non-canonical path is reported, not fixed.
//
// Order of the checks, shared with the datapath: the absolute-form
// "http://" or "https://" prefix (scheme case-insensitive) and authority are
// removed, then query and fragment, then a path longer than MaxPath is
// malformed_request, then the canonical-path rules give non_canonical_path.
func NormalizePath(target string) (path string, reason string) {
	path = target
	if rest, ok := cutScheme(path); ok {
		switch i := strings.IndexAny(rest, "/?#"); {
		case i < 0:
			path = "/"
		case rest[i] == '/':
			path = rest[i:]
		default:
			path = "/" + rest[i:]
		}
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if len(path) > MaxPath {
		return path, ReasonMalformedRequest
	}
	if !CanonicalPath(path) {
		return path, ReasonNonCanonicalPath
	}
	return path, ""
}

func cutScheme(t string) (string, bool) {
	for _, s := range []string{"http://", "https://"} {
		if len(t) >= len(s) && strings.EqualFold(t[:len(s)], s) {
			return t[len(s):], true
		}
	}
	return "", false
}

// CanonicalPath says whether p is a canonical path (docs/semantics.md): "*",
// or a path starting with "/" without empty, "." or ".." segments,
// backslashes, control or non-ASCII bytes, malformed percent-escapes or
// escapes of unreserved characters, "/" or "\".
func CanonicalPath(p string) bool {
	if p == "*" {
		return true
	}
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c < 0x21 || c >= 0x7f || c == '\\':
			return false
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return false
			}
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if isUnreserved(d) || d == '/' || d == '\\' {
				return false
			}
		case c == '/':
			// The segment after this slash must not be empty, "." or "..",
			// except that a single trailing slash is an empty last segment
			// that servers treat as a directory, not a traversal.
			seg := p[i+1:]
			if j := strings.IndexByte(seg, '/'); j >= 0 {
				seg = seg[:j]
				if seg == "" {
					return false
				}
			}
			if seg == "." || seg == ".." {
				return false
			}
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
