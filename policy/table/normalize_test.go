package table

import (
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	for _, c := range []struct {
		target, path, reason string
	}{
		{"/api/v1/x", "/api/v1/x", ""},
		{"/api/v1/x?q=1", "/api/v1/x", ""},
		// A "#" anywhere in the target: Go's FileServer would serve
		// /api/admin/secret.txt for the first one.
		{"/api/v1/ok#/../../admin/secret.txt", "/api/v1/ok", ReasonNonCanonicalPath},
		{"/api/v1/x?q=1#f", "/api/v1/x", ReasonNonCanonicalPath},
		{"/a#f?x", "/a", ReasonNonCanonicalPath},
		{"http://h#/admin", "/", ReasonNonCanonicalPath},
		// The canonical form: escapes of characters servers treat as the
		// literal are decoded, the others upper-cased.
		{"/api/v1/orders/%40me", "/api/v1/orders/@me", ""},
		{"/admin%3Aexport", "/admin:export", ""},
		{"/admin%3aexport", "/admin:export", ""},
		{"/files/a%2Bb", "/files/a+b", ""},
		{"/files/a%2a", "/files/a*", ""},
		{"/q%3f", "/q%3F", ""},
		{"/q%3F", "/q%3F", ""},
		{"/caf%c3%a9", "/caf%C3%A9", ""},
		{"/a%25b", "/a%25b", ""},
		{"/a%25%61", "/a%25%61", ReasonNonCanonicalPath},
		{"/a%3b%23", "/a%3B%23", ""},
		{"*", "*", ""},
		{"/", "/", ""},
		{"/dir/", "/dir/", ""},
		{"http://example.com/p?q", "/p", ""},
		{"HTTPS://example.com:8443/p", "/p", ""},
		{"http://example.com", "/", ""},
		{"http://example.com?x=/admin", "/", ""},
		{"/a%20b", "/a%20b", ""},
		{"/a%2525", "/a%2525", ""},
		{"/a%3Fb", "/a%3Fb", ""},
		{"api", "api", ReasonNonCanonicalPath},
		{"", "", ReasonNonCanonicalPath},
		{"//admin", "//admin", ReasonNonCanonicalPath},
		{"/a//b", "/a//b", ReasonNonCanonicalPath},
		{"/a/./b", "/a/./b", ReasonNonCanonicalPath},
		{"/a/../admin", "/a/../admin", ReasonNonCanonicalPath},
		{"/a/.", "/a/.", ReasonNonCanonicalPath},
		{"/a/..", "/a/..", ReasonNonCanonicalPath},
		{"/a/..b", "/a/..b", ""},
		{"/a/.b", "/a/.b", ""},
		{"/a\\b", "/a\\b", ReasonNonCanonicalPath},
		{"/%61dmin", "/%61dmin", ReasonNonCanonicalPath},
		{"/a%2fb", "/a%2fb", ReasonNonCanonicalPath},
		{"/a%2Fb", "/a%2Fb", ReasonNonCanonicalPath},
		{"/a%5cb", "/a%5cb", ReasonNonCanonicalPath},
		{"/a%7E", "/a%7E", ReasonNonCanonicalPath},
		{"/a%2", "/a%2", ReasonNonCanonicalPath},
		{"/a%zz", "/a%zz", ReasonNonCanonicalPath},
		{"/a\x01", "/a\x01", ReasonNonCanonicalPath},
		{"/a\x7f", "/a\x7f", ReasonNonCanonicalPath},
		{"/caf\xc3\xa9", "/caf\xc3\xa9", ReasonNonCanonicalPath},
		{"http://h//admin", "//admin", ReasonNonCanonicalPath},
		// An authority must name a host (red team rt45: Node's WHATWG URL
		// parser reads "http:///api/api/admin" as host api, path /api/admin).
		{"http:///api/api/admin", "/api/api/admin", ReasonNonCanonicalPath},
		{"HTTPS:///api/x", "/api/x", ReasonNonCanonicalPath},
		{"http://", "/", ReasonNonCanonicalPath},
		{"http://?q", "/", ReasonNonCanonicalPath},
		{"http://u@/x", "/x", ReasonNonCanonicalPath},
		{"http://:80/x", "/x", ReasonNonCanonicalPath},
		{"http://u@:80/x", "/x", ReasonNonCanonicalPath},
		{"http://h\\x/y", "/y", ReasonNonCanonicalPath},
		{"http://h\x01/x", "/x", ReasonNonCanonicalPath},
		{"http://h\x80/x", "/x", ReasonNonCanonicalPath},
		{"http://u:p@h:1/x", "/x", ""},
		{"http://@h/x", "/x", ""},
		{"http://[::1]:80/x", "/x", ""},
		{"http://h:/x", "/x", ""},
		{"http://a.b-c_d~!$&'()*+,;=%41/x", "/x", ""},
		{"/" + strings.Repeat("a", MaxPath), "/" + strings.Repeat("a", MaxPath), ReasonMalformedRequest},
		{"/" + strings.Repeat("a", MaxPath-1) + "?" + strings.Repeat("q", 9000), "/" + strings.Repeat("a", MaxPath-1), ""},
		// The limit is on the canonical form, as the datapath stores it.
		{"/" + strings.Repeat("%40", 2000), "/" + strings.Repeat("@", 2000), ""},
		{"/" + strings.Repeat("%20", 1400), "/" + strings.Repeat("%20", 1400), ReasonMalformedRequest},
	} {
		path, reason := NormalizePath(c.target)
		if path != c.path || reason != c.reason {
			t.Errorf("NormalizePath(%q) = %q, %q; want %q, %q", c.target, path, reason, c.path, c.reason)
		}
	}
}

func TestNormalizeRequestMethod(t *testing.T) {
	for _, c := range []struct {
		method, reason string
	}{
		{"GET", ""},
		{"M-SEARCH", ""},
		{strings.Repeat("X", MaxMethod), ""},
		{strings.Repeat("X", MaxMethod+1), ReasonNotHTTP},
		{"G@T", ReasonNotHTTP},
		{"GE T", ReasonNotHTTP},
		{"", ReasonNotHTTP},
	} {
		if _, reason := NormalizeRequest(c.method, "/a"); reason != c.reason {
			t.Errorf("NormalizeRequest(%q, /a) reason %q, want %q", c.method, reason, c.reason)
		}
	}
	// The method is read first: it decides even when the target is not
	// canonical.
	if _, reason := NormalizeRequest("G@T", "/a/../b"); reason != ReasonNotHTTP {
		t.Errorf("G@T /a/../b: %q, want not_http", reason)
	}
}

// TestNormalizeRequestConnect: Go's net/http reads a CONNECT target that
// does not start with '/' as an authority ("CONNECT http://h/p" has the
// path "//h/p"): for CONNECT the absolute form is not reduced.
func TestNormalizeRequestConnect(t *testing.T) {
	for _, c := range []struct {
		method, target, path, reason string
	}{
		{"CONNECT", "http://api/admin/x", "http://api/admin/x", ReasonNonCanonicalPath},
		{"CONNECT", "HTTPS://h:443/p", "HTTPS://h:443/p", ReasonNonCanonicalPath},
		{"CONNECT", "h:443", "h:443", ReasonNonCanonicalPath},
		{"CONNECT", "/api/v1/x", "/api/v1/x", ""},
		{"connect", "http://h/p", "/p", ""}, // another method (tokens are case-sensitive)
		{"GET", "http://h/p", "/p", ""},
	} {
		path, reason := NormalizeRequest(c.method, c.target)
		if path != c.path || reason != c.reason {
			t.Errorf("NormalizeRequest(%q, %q) = %q, %q; want %q, %q", c.method, c.target, path, reason, c.path, c.reason)
		}
	}
}
