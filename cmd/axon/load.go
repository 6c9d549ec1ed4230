package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
)

// errInvalidDir is returned after the problems of a policy directory that
// does not compile have been printed.
var errInvalidDir = errors.New("policy directory does not compile")

// loaded is a policy directory and its compiled table.
type loaded struct {
	dir      string
	set      *source.Set
	table    *compiler.Table
	problems source.Problems // warnings only once loaded
}

// load reads and compiles dir. Errors and warnings are printed to out, as
// file:line: severity: message; errInvalidDir is returned when any is an
// error.
func load(ctx context.Context, dir string, out io.Writer) (*loaded, error) {
	set, problems, err := source.Load(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		fmt.Fprintf(out, "%s\n", p)
	}
	if len(problems.Errors()) > 0 {
		return nil, fmt.Errorf("%w (%d errors)", errInvalidDir, len(problems.Errors()))
	}
	t, err := compiler.Compile(ctx, set.Input())
	if err != nil {
		var ce *compiler.Error
		if errors.As(err, &ce) {
			fmt.Fprintf(out, "%s\n", ce)
			return nil, fmt.Errorf("%w (1 error)", errInvalidDir)
		}
		return nil, fmt.Errorf("compiling: %w", err)
	}
	// What compiles must also load: the datapath's bounds and map sizes.
	if err := datapath.Fit(t); err != nil {
		fmt.Fprintf(out, "%s: error: %s\n", dir, err)
		return nil, fmt.Errorf("%w (1 error)", errInvalidDir)
	}
	for _, w := range t.Warnings {
		fmt.Fprintf(out, "%s: warning: %s\n", dir, w)
	}
	return &loaded{dir: dir, set: set, table: t, problems: problems}, nil
}
