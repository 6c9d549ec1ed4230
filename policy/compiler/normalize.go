package compiler

import (
	"strings"

	"github.com/axon-dev/axon/policy/httppath"
)

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

// CanonicalPath says whether p is a canonical path (docs/semantics.md):
// httppath.Check finds nothing wrong with it.
func CanonicalPath(p string) bool { return httppath.Check(p) == nil }
