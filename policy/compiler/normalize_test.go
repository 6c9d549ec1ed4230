package compiler

import (
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	for _, c := range []struct {
		target, path, reason string
	}{
		{"/api/v1/x", "/api/v1/x", ""},
		{"/api/v1/x?q=1#f", "/api/v1/x", ""},
		{"/a#f?x", "/a", ""},
		{"*", "*", ""},
		{"/", "/", ""},
		{"/dir/", "/dir/", ""},
		{"http://example.com/p?q", "/p", ""},
		{"HTTPS://example.com:8443/p", "/p", ""},
		{"http://example.com", "/", ""},
		{"http://example.com?x=/admin", "/", ""},
		{"/a%20b", "/a%20b", ""},
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
		{"/" + strings.Repeat("a", MaxPath), "/" + strings.Repeat("a", MaxPath), ReasonMalformedRequest},
		{"/" + strings.Repeat("a", MaxPath-1) + "?" + strings.Repeat("q", 9000), "/" + strings.Repeat("a", MaxPath-1), ""},
	} {
		path, reason := NormalizePath(c.target)
		if path != c.path || reason != c.reason {
			t.Errorf("NormalizePath(%q) = %q, %q; want %q, %q", c.target, path, reason, c.path, c.reason)
		}
	}
}
