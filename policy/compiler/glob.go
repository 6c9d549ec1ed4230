package compiler

import (
	"fmt"
	"strings"

	"github.com/axon-dev/axon/policy/table"
)

// validGlob reports why a glob pattern is outside the supported subset ("" if
// it is inside): literal bytes, '*' (a run without '/'), '**' (any run), '?'
// (one byte other than '/'). The pattern must be a canonical path.
func validGlob(p string) string {
	if strings.ContainsAny(p, "[]{}\\") {
		return "brackets, braces and backslashes are not supported in globs"
	}
	if len(p) > table.MaxPathKey-1 {
		return fmt.Sprintf("pattern longer than %d bytes", table.MaxPathKey-1)
	}
	if !table.CanonicalPath(p) {
		return "pattern is not a canonical path"
	}
	return ""
}

// globLiteral is the part of a glob before its first wildcard: every path the
// glob matches starts with it.
func globLiteral(p string) string {
	if i := strings.IndexAny(p, "*?"); i >= 0 {
		return p[:i]
	}
	return p
}
