// Package httppath says which request paths are canonical, the one rule that
// the policy validation, the compiler and the Go reference evaluator share
// (the TC datapath implements the same rule in C; differential tests keep the
// two in step). The rule is written down in docs/semantics.md.
package httppath
