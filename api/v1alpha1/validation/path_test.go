package validation

import (
	"errors"
	"testing"
)

// Each case is one rule of docs/semantics.md "Non-canonical paths are denied".
func TestCanonicalPattern(t *testing.T) {
	cases := []struct {
		pattern, wildcards string
		canonical          bool
	}{
		{"/", "", true},
		{"/api/v1/", "", true},
		{"/a%20b/%3F/%2e%zz", "", false}, // %2e is '.', must be written as is
		{"/a%20b/%3F/%25", "", true},     // escapes of reserved or unsafe bytes stay
		{"api", "", false},               // 1. does not start with /
		{"", "", false},
		{"/a//b", "", false},        // 2. //
		{"/a/./b", "", false},       // 2. . segment
		{"/a/..", "", false},        // 2. trailing ..
		{"/a/.", "", false},         // 2. trailing .
		{"/a/..b/.c", "", true},     // dots inside a segment are fine
		{`/a\b`, "", false},         // 3. backslash
		{"/%41", "", false},         // 4. encoded unreserved (A)
		{"/%7e", "", false},         // 4. encoded unreserved (~), lower-case hex
		{"/a%2Fb", "", false},       // 4. encoded /
		{"/a%5cb", "", false},       // 4. encoded \
		{"/a%", "", false},          // 4. % at the end
		{"/a%4", "", false},         // 4. % with one digit
		{"/a%g0", "", false},        // 4. % with a non-hex digit
		{"/a b", "", false},         // 5. space
		{"/a\tb", "", false},        // 5. control
		{"/a\x7fb", "", false},      // 5. DEL
		{"/caf\xc3\xa9", "", false}, // 5. raw non-ASCII
		{"/a?x", "", false},         // query is never part of a path
		{"/a#x", "", false},         // nor is a fragment
		{"/a/*/b?", "*?", true},     // glob wildcards
		{"/a/**", "*?", true},
		{"/a/#", "*?", false},
	}
	for _, tc := range cases {
		err := CanonicalPattern(tc.pattern, tc.wildcards)
		if (err == nil) != tc.canonical {
			t.Errorf("CanonicalPattern(%q, %q) = %v, want canonical=%v", tc.pattern, tc.wildcards, err, tc.canonical)
		}
		if err != nil && !errors.Is(err, ErrNonCanonical) {
			t.Errorf("CanonicalPattern(%q) error %v does not wrap ErrNonCanonical", tc.pattern, err)
		}
	}
}

func TestIsToken(t *testing.T) {
	for _, m := range []string{"GET", "M-SEARCH", "get", "A!#$%&'*+-.^_`|~9"} {
		if !IsToken(m) {
			t.Errorf("IsToken(%q) = false", m)
		}
	}
	for _, m := range []string{"", "GE T", "GET/", "G\"", "G(", "G:", "GÉT", "G\x00"} {
		if IsToken(m) {
			t.Errorf("IsToken(%q) = true", m)
		}
	}
}
