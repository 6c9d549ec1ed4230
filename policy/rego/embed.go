package rego

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed authz.rego selectors.rego
var library embed.FS

// Modules returns the library's modules (file name -> text), tests excluded.
func Modules() map[string]string {
	out := map[string]string{}
	names, _ := fs.Glob(library, "*.rego")
	sort.Strings(names)
	for _, n := range names {
		b, err := library.ReadFile(n)
		if err != nil {
			panic(err) // embedded: cannot fail
		}
		out["policy/rego/"+n] = string(b)
	}
	return out
}

// Package paths of the library's entry points.
const (
	DecisionQuery = "data.axon.authz.decision"
	MatchedRef    = "data.axon.authz.matched"
	UserRoot      = "axon.user"
)
