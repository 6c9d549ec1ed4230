package table

import (
	"strings"
	"testing"
)

// TestMatchGlobBounded: beyond MaxGlobPath bytes a trailing '**' still
// decides, a dead automaton still says no, anything else is undecided.
// agent/datapath's TestLongPathsInKernel holds the kernel to the same.
func TestMatchGlobBounded(t *testing.T) {
	long := strings.Repeat("x", MaxGlobPath)
	for _, c := range []struct {
		pattern, path string
		want          GlobResult
	}{
		{"/api/**", "/api/" + long, GlobYes},
		{"/api/*/secret/**", "/api/v1/secret/" + long, GlobYes},
		{"/api/*/secret/**", "/api/v1/other/" + long, GlobNo},
		{"/api/**/x", "/api/" + long, GlobUndecided},
		{"/a*", "/a" + long, GlobUndecided},
		{"/a*", "/a" + long[:MaxGlobPath-2], GlobYes},
		{"/a*/", "/a" + long[:MaxGlobPath-2], GlobNo},
	} {
		if got := MatchGlobBounded(c.pattern, c.path); got != c.want {
			t.Errorf("glob %q on a %d-byte path: %d, want %d", c.pattern, len(c.path), got, c.want)
		}
	}
}
