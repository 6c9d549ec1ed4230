package source

import (
	"errors"
	"fmt"
	"strings"
)

// Severity says whether a problem stops a policy directory from compiling.
type Severity uint8

const (
	// SeverityError: the object or file was left out; compiling fails.
	SeverityError Severity = iota
	// SeverityWarning: worth telling the author, but nothing was left out
	// that the author could have meant to enforce.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Pos is a position in a policy directory. Line 0 means the whole file.
type Pos struct {
	File string // relative to the policy directory, / separated
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Problem is one error or warning found while loading.
type Problem struct {
	Pos      Pos
	Severity Severity
	Msg      string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s", p.Pos, p.Severity, p.Msg)
}

// ErrInvalid is wrapped by Problems.Err when some problem is an error.
var ErrInvalid = errors.New("invalid policy directory")

// Problems is the list of problems of one load, in file and line order.
type Problems []Problem

// Errors returns the problems of severity error.
func (ps Problems) Errors() Problems { return ps.filter(SeverityError) }

// Warnings returns the problems of severity warning.
func (ps Problems) Warnings() Problems { return ps.filter(SeverityWarning) }

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Err is nil when no problem is an error; otherwise it wraps ErrInvalid and
// lists the errors, one per line.
func (ps Problems) Err() error {
	errs := ps.Errors()
	if len(errs) == 0 {
		return nil
	}
	lines := make([]string, len(errs))
	for i, p := range errs {
		lines[i] = p.String()
	}
	return fmt.Errorf("%w:\n%s", ErrInvalid, strings.Join(lines, "\n"))
}
