package agent

import (
	"context"
	"errors"
	"slices"
	"time"

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
	set, problems, err := source.Load(dir)
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
	in := compiler.Input{
		Namespaces: set.Namespaces,
		Pods:       set.Pods,
		Policies:   set.Policies,
		Modules:    set.Modules,
	}
	var opts []compiler.Option
	if prev != nil {
		opts = append(opts, compiler.WithPrevious(prev))
	}
	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	t, err := compiler.Compile(ctx, &in, opts...)
	if err != nil {
		le := &LoadError{Stage: "compile", Err: err, Problems: []string{err.Error()}}
		var ce *compiler.Error
		if errors.As(err, &ce) && ce.File != "" {
			le.Files = []string{ce.File}
		}
		return nil, warnings, le
	}
	return t, warnings, nil
}
