package agent

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
)

// compileTimeout bounds one compilation of a policy directory.
const compileTimeout = time.Minute

// LoadDir reads the policy directory with policy/source and compiles it,
// keeping the IDs of prev where it can. Any error-severity problem in any
// file fails the whole load: a partial policy set could lift a deny.
// Warnings are returned for logging.
func LoadDir(dir string, prev *compiler.Table) (*compiler.Table, []string, error) {
	return loadDir(dir, prev, nil, nil)
}

// NewDirLoader returns a Loader like LoadDir that keeps the decoded files
// and the compiler's partial-evaluation results between loads, so a reload
// after one policy changed decodes and re-evaluates only that policy.
func NewDirLoader() Loader {
	files, cache := source.NewCache(), compiler.NewCache()
	return func(dir string, prev *compiler.Table) (*compiler.Table, []string, error) {
		return loadDir(dir, prev, files, cache)
	}
}

func loadDir(dir string, prev *compiler.Table, files *source.Cache, cache *compiler.Cache) (*compiler.Table, []string, error) {
	load := source.Load
	if files != nil {
		load = files.Load
	}
	set, problems, err := load(dir)
	if err != nil {
		return nil, nil, &LoadError{Stage: "source", Err: err}
	}
	var warnings []string
	for _, p := range problems.Warnings() {
		warnings = append(warnings, p.String())
	}
	if errs := problems.Errors(); len(errs) > 0 {
		le := &LoadError{Stage: "source", Err: problems.Err()}
		for _, p := range errs {
			le.Problems = append(le.Problems, p.String())
			le.Files = append(le.Files, p.Pos.File)
		}
		slices.Sort(le.Files)
		le.Files = slices.Compact(le.Files)
		return nil, warnings, le
	}
	var opts []compiler.Option
	if prev != nil {
		opts = append(opts, compiler.WithPrevious(prev))
	}
	if cache != nil {
		opts = append(opts, compiler.WithCache(cache))
	}
	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	t, err := compiler.Compile(ctx, set.Input(), opts...)
	if err != nil {
		le := &LoadError{Stage: "compile", Err: err, Problems: []string{err.Error()}}
		var ce *compiler.Error
		if errors.As(err, &ce) && ce.File != "" {
			le.Files = []string{ce.File}
		}
		return nil, warnings, le
	}
	// A table the datapath cannot hold is a compile error: refused with the
	// limit and the figure, never retried against the maps.
	if err := datapath.Fit(t); err != nil {
		return nil, warnings, &LoadError{Stage: "compile", Err: err, Problems: []string{err.Error()}}
	}
	return t, warnings, nil
}
