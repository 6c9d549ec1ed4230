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
		{"/api/v1/ok#/../admin", "# at offset"},
		{"/a%23b", ""}, // an escaped '#' is a path byte
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

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"/plain":                 "/plain",
		"/orders/%40me":          "/orders/@me",
		"/admin%3aexport":        "/admin:export",
		"/files/a%2Bb%2a":        "/files/a+b*",
		"/q%3f":                  "/q%3F",
		"/caf%c3%a9":             "/caf%C3%A9",
		"/a%20b%25%3b%23%2f%5c":  "/a%20b%25%3B%23%2F%5C",
		"/%21%22%24%26%27%28%29": "/!\"$&'()",
		"/%5b%5d%5e%60%7b%7c%7d": "/[]^`{|}",
		// Non-canonical inputs: the datapath's bytes, for the length.
		"/a%zz": "/a%zz",
		"/a%2z": "/a%2z",
		"/a%":   "/a",
		"/a%4":  "/a",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
	for c := 0; c < 256; c++ {
		if got := IsDecoded(byte(c)); got != (c > 0x20 && c < 0x7f && strings.IndexByte("%/?#;\\-._~", byte(c)) < 0 &&
			!('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9')) {
			t.Errorf("IsDecoded(%q) = %v", rune(c), got)
		}
	}
}
