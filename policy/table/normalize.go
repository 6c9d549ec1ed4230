package table

import (
	"strings"

	"github.com/axon-dev/axon/policy/httppath"

	"github.com/axon-dev/axon/bpf/shared"
)

// Reasons a request is decided before any rule is consulted.
const (
	ReasonNonCanonicalPath = "non_canonical_path"
	ReasonMalformedRequest = "malformed_request"
	ReasonNotHTTP          = "not_http"
	// ReasonGlobUndecided: a glob the path was too long for changed the
	// verdict (DecideBounded).
	ReasonGlobUndecided = "glob_undecided"
)

// MaxPath is the longest path (in canonical form, after removing query and
// fragment) that the datapath decides; longer ones are malformed_request.
const MaxPath = int(shared.SharedAxBoundAX_BOUND_PATH_LIMIT)

// MaxMethod is the longest method token the datapath accepts as HTTP; a
// longer one, or one that is not a token, is not_http.
const MaxMethod = int(shared.SharedAxBoundAX_BOUND_METHOD_LIMIT)

// NormalizeRequest checks a request's method, then reduces its target with
// NormalizePath. The datapath reads the method first: a method that is not
// an RFC 9110 token or is longer than MaxMethod bytes is not_http, whatever
// the target. A CONNECT request with an absolute-form target is
// non_canonical_path (docs/semantics.md).
func NormalizeRequest(method, target string) (path string, reason string) {
	if !httppath.IsToken(method) || len(method) > MaxMethod {
		return "", ReasonNotHTTP
	}
	// Go's net/http reads a CONNECT target that does not start with '/'
	// as an authority: "CONNECT http://h/p" has the path "//h/p", not /p.
	// CONNECT has no absolute form.
	if method == "CONNECT" {
		if _, ok := cutScheme(target); ok {
			return target, ReasonNonCanonicalPath
		}
	}
	return NormalizePath(target)
}

// NormalizePath reduces a raw request target to the canonical path that
// rules match, as docs/semantics.md says, and reports why the request must
// be decided without rules ("" when the path is canonical). It never repairs
// a path: a non-canonical path is reported, not fixed; a canonical one is
// brought to its canonical form (httppath.Canonical).
//
// Order of the checks, shared with the datapath: the absolute-form
// "http://" or "https://" prefix (scheme case-insensitive) and authority are
// removed, then query and fragment, then a path whose canonical form is
// longer than MaxPath is malformed_request, then a "#" anywhere in the
// target, an authority that names no host (AuthorityHasHost) or a path that
// httppath.Check rejects gives non_canonical_path.
func NormalizePath(target string) (path string, reason string) {
	path = target
	badAuthority := false
	if rest, ok := cutScheme(path); ok {
		authority, tail := splitAuthority(rest)
		badAuthority = !AuthorityHasHost(authority)
		path = tail // "/p", or "?q" and "" after "http://host", which are "/"
		if !strings.HasPrefix(tail, "/") {
			path = "/" + tail
		}
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	canon := httppath.Canonical(path)
	if len(canon) > MaxPath {
		return path, ReasonMalformedRequest
	}
	if strings.IndexByte(target, '#') >= 0 || badAuthority || !CanonicalPath(path) {
		return path, ReasonNonCanonicalPath
	}
	return canon, ""
}

// AuthorityHasHost says whether a, the authority of an absolute-form
// target, names a host: RFC 3986 characters only (unreserved, sub-delims,
// '[', ']', '%', ':' and '@'), a host byte after any userinfo '@', and none
// of its ports ':' before the host. "http:///p" has none: it is invalid
// (RFC 9110 4.2.1), and WHATWG URL parsers (Node's routers) skip the
// slashes and take the path's first segment as the host (red team rt45).
func AuthorityHasHost(a string) bool {
	host := false
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case c == '@':
			host = false
		case c == ':':
			if !host {
				return false
			}
		case authorityChar(c):
			host = true
		default:
			return false
		}
	}
	return host
}

// authorityChar says whether c may appear in an authority besides '@' and
// ':': RFC 3986 unreserved and sub-delims, '[', ']' and '%'.
func authorityChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=[]%", c) >= 0
}

// AbsoluteAuthority returns the authority of an absolute-form target
// ("http://" or "https://", scheme case-insensitive, up to the first '/',
// '?' or '#'), and whether target is in absolute form.
func AbsoluteAuthority(target string) (string, bool) {
	rest, ok := cutScheme(target)
	if !ok {
		return "", false
	}
	authority, _ := splitAuthority(rest)
	return authority, true
}

// splitAuthority splits what follows an absolute form's scheme into the
// authority and the rest, which starts at the first '/', '?' or '#'.
func splitAuthority(rest string) (authority, tail string) {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, ""
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
