package agent

import (
	"fmt"
	"strings"
)

// LoadError is a policy directory that could not be turned into a table.
// Files names the files at fault (relative to the directory), when known.
type LoadError struct {
	Stage    string   // "source" or "compile"
	Files    []string // sorted, distinct
	Problems []string // one line each, "file:line: message"
	Err      error
}

func (e *LoadError) Error() string {
	if len(e.Problems) == 0 {
		return fmt.Sprintf("%s: %v", e.Stage, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Stage, strings.Join(e.Problems, "; "))
}

func (e *LoadError) Unwrap() error { return e.Err }
