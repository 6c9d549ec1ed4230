package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing/fstest"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/bundle"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
	"github.com/axon-dev/axon/policy/table"
)

// errInvalidDir is returned after the problems of a policy directory that
// does not compile have been printed.
var errInvalidDir = errors.New("policy directory does not compile")

// loaded is a policy directory and its compiled table.
type loaded struct {
	dir      string
	set      *source.Set
	table    *table.Table
	problems source.Problems // warnings only once loaded
}

// load reads and compiles dir, with the modules, tests and data of the OPA
// bundles (paths or URLs). Errors and warnings are printed to out, as
// file:line: severity: message; errInvalidDir is returned when any is an
// error. dir "" is an empty directory (a bundle alone).
func load(ctx context.Context, dir string, bundles []string, out io.Writer) (*loaded, error) {
	var extras []source.Extra
	for _, src := range bundles {
		b, err := readBundle(ctx, src)
		if err != nil {
			return nil, err
		}
		extras = append(extras, b.Extra())
	}
	var set *source.Set
	var problems source.Problems
	var err error
	if dir == "" {
		set, problems, err = source.LoadFS(fstest.MapFS{}, extras...)
	} else {
		set, problems, err = source.Load(dir, extras...)
	}
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

// bundleFlag adds the repeatable --bundle flag to fs.
func bundleFlag(fs *flag.FlagSet) *[]string {
	var srcs []string
	fs.Func("bundle", "OPA bundle (directory, .tar.gz or http(s) URL) whose modules, tests and data join DIR's; repeatable", func(s string) error {
		srcs = append(srcs, s)
		return nil
	})
	return &srcs
}

// readBundle reads a bundle from a path or downloads it from a bundle
// service.
func readBundle(ctx context.Context, src string) (*bundle.Bundle, error) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		return (&bundle.HTTPSource{URL: src}).Fetch(ctx)
	}
	return bundle.Load(src)
}

// sizeFlags adds the agent's map size flags (--max-path-rows ...) to fs: a
// table is checked against the sizes the agent will run with. The returned
// function, called after parsing, sets them for this process.
func sizeFlags(fs *flag.FlagSet) func() error {
	get := datapath.RegisterLimitFlags(fs)
	return func() error {
		l, err := get()
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return datapath.SetLimits(l)
	}
}
