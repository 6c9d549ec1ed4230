package compiler

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by *Error.
var (
	// ErrUnsupported: the policy uses Rego outside the supported fragment.
	ErrUnsupported = errors.New("unsupported construct")
	// ErrInvalid: the policy is malformed (bad CIDR, non-canonical pattern...).
	ErrInvalid = errors.New("invalid policy")
)

// Error is a compile error pointing at where the policy was written.
type Error struct {
	File      string // policy or module file ("" when unknown)
	Line      int    // 1-based; 0 when unknown
	Policy    string // "namespace/name" of the policy being compiled, if any
	Construct string // the offending construct as written or as residual Rego
	Msg       string
	Hint      string
	Kind      error // ErrUnsupported or ErrInvalid
}

func (e *Error) Error() string {
	s := ""
	if e.File != "" {
		s = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	}
	if e.Policy != "" {
		s += "policy " + e.Policy + ": "
	}
	s += e.Kind.Error()
	if e.Construct != "" {
		s += fmt.Sprintf(" `%s`", e.Construct)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Hint != "" {
		s += " (hint: " + e.Hint + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Kind }
