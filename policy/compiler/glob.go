package compiler

import "strings"

// globLiteral is the part of a glob before its first wildcard: every path the
// glob matches starts with it.
func globLiteral(p string) string {
	if i := strings.IndexAny(p, "*?"); i >= 0 {
		return p[:i]
	}
	return p
}
