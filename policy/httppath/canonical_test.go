package httppath

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		path string
		why  string // "" when canonical; else a part of the error
	}{
		{"/", ""},
		{"*", ""},
		{"/api/v1/orders/", ""},
		{"/search/a%20b%3F", ""},
		{"/a/.well-known/x", ""},
		{"/a/...", ""},
		{"", "does not start with /"},
		{"api", "does not start with /"},
		{"//admin", "contains //"},
		{"/a//b", "contains //"},
		{"/a/./b", `"." segment`},
		{"/a/..", `".." segment`},
		{"/a\\b", "backslash"},
		{"/admin;x/users", "semicolon"},
		{"/api/..;/admin", "semicolon"},
		{"/a%3Bb", ""},
		{"/a b", "byte 0x20"},
		{"/caf\xc3\xa9", "byte 0xc3"},
		{"/%61dmin", `encodes 'a'`},
		{"/a%2Fb", `encodes '/'`},
		{"/a%5c", `encodes '\\'`},
		{"/a%2", "not followed by two hex digits"},
		{"/a%zz", "not followed by two hex digits"},
	} {
		err := Check(tc.path)
		switch {
		case tc.why == "" && err != nil:
			t.Errorf("Check(%q) = %v, want canonical", tc.path, err)
		case tc.why != "" && (err == nil || !errors.Is(err, ErrNonCanonical) || !strings.Contains(err.Error(), tc.why)):
			t.Errorf("Check(%q) = %v, want an ErrNonCanonical saying %q", tc.path, err, tc.why)
		}
	}
}

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{"GET": true, "M-SEARCH": true, "get": true, "": false, "GE T": false, "GET/": false} {
		if IsToken(s) != want {
			t.Errorf("IsToken(%q) = %v", s, !want)
		}
	}
}
