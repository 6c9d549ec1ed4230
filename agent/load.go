package agent

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
	"github.com/axon-dev/axon/policy/table"
)

// CompileTimeout bounds one compilation of a policy directory (the agent's
// --compile-timeout: a table of a million rows may need more).
var CompileTimeout = time.Minute

// LoadDir reads the policy directory with policy/source and compiles it,
// keeping the IDs of prev where it can. Any error-severity problem in any
// file fails the whole load: a partial policy set could lift a deny.
// Warnings are returned for logging.
func LoadDir(dir string, prev *table.Table) (*table.Table, []string, error) {
	return loadDir(dir, nil, prev, nil, nil, nil)
}

// NewDirLoader returns a Loader like LoadDir that keeps the decoded files
// and the compiler's partial-evaluation results between loads, so a reload
// after one policy changed decodes and re-evaluates only that policy.
func NewDirLoader() Loader {
	return NewBundleDirLoader(nil)
}

// NewBundleDirLoader is NewDirLoader with, at each load, the modules, tests
// and data that extras returns (the last good OPA bundles, policy/bundle)
// added to the directory's. A set that does not compile with them fails the
// load like a broken file: the table in force stays.
func NewBundleDirLoader(extras func() []source.Extra) Loader {
	return NewSharedDirLoader(source.NewCache(), extras)
}

// NewSharedDirLoader is NewBundleDirLoader reading the directory through
// files, a decode cache the caller shares with its other readers of the
// same directory (the agent's Config.Objects): a file decoded for the load
// is not decoded again for the pods and monitors read after it.
func NewSharedDirLoader(files *source.Cache, extras func() []source.Extra) Loader {
	cache := compiler.NewCache()
	return func(dir string, read map[string][]byte, prev *table.Table) (*table.Table, []string, error) {
		var x []source.Extra
		if extras != nil {
			x = extras()
		}
		return loadDir(dir, read, prev, files, cache, x)
	}
}

func loadDir(dir string, read map[string][]byte, prev *table.Table, files *source.Cache, cache *compiler.Cache, extras []source.Extra) (*table.Table, []string, error) {
	var set *source.Set
	var problems source.Problems
	var err error
	if files != nil {
		set, problems, err = files.LoadFiles(dir, read, extras...)
	} else {
		set, problems, err = source.Load(dir, extras...)
	}
	if err != nil {
		return nil, nil, &LoadError{Stage: "source", Err: err}
	}
	return CompileSet(set, problems, prev, cache)
}

// CompileSet compiles a policy set read by policy/source (from a directory
// or, in cluster mode, from the API server's objects) as LoadDir does: any
// error-severity problem fails the whole set. cache may be nil.
func CompileSet(set *source.Set, problems source.Problems, prev *table.Table, cache *compiler.Cache) (*table.Table, []string, error) {
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
	ctx, cancel := context.WithTimeout(context.Background(), CompileTimeout)
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

// CheckExtras says whether the policy directory dir may take the candidate
// extras (new OPA bundles) in place of the current ones: it is an error
// when the directory compiles with the current ones and not with the
// candidate, so that a bundle update that does not compile is refused and
// the last good bundle stays (policy/bundle.Watcher.Check). A directory
// that does not compile either way is not the bundle's fault: the
// candidate is accepted.
func CheckExtras(dir string, candidate, current []source.Extra) error {
	_, _, err := loadDir(dir, nil, nil, nil, nil, candidate)
	if err == nil {
		return nil
	}
	if _, _, cerr := loadDir(dir, nil, nil, nil, nil, current); cerr != nil {
		return nil
	}
	return err
}
