package source

import (
	"maps"
	"slices"
)

// Extra is Rego from outside the policy directory that its policies may use
// as if its modules were files of the directory: an OPA bundle
// (policy/bundle). A policy names one of its modules in spec.rego.file by
// its path; every module is also compiled in its own package (Set.DataModules)
// so that modules may import one another; Data is readable as data.<key>.
type Extra struct {
	// Name says where it comes from in problems (a path or URL).
	Name    string
	Modules map[string]string // path -> text
	Tests   map[string]string // *_test.rego path -> text
	Data    map[string]any
}

// addExtra merges the extras into the set. A module or test path already
// there (a file of the directory or of an earlier extra), or a top-level
// data key given twice, is an error: which one a policy meant would be a
// guess.
func (l *loader) addExtra(extras []Extra) {
	for _, x := range extras {
		for _, p := range slices.Sorted(maps.Keys(x.Modules)) {
			if _, dup := l.set.Modules[p]; dup {
				l.errorf(Pos{File: x.Name}, "module %s is also a file of the policy directory or of another bundle", p)
				continue
			}
			l.set.Modules[p] = x.Modules[p]
			if l.set.DataModules == nil {
				l.set.DataModules = map[string]string{}
			}
			l.set.DataModules[p] = x.Modules[p]
		}
		for _, p := range slices.Sorted(maps.Keys(x.Tests)) {
			if _, dup := l.set.Tests[p]; dup {
				l.errorf(Pos{File: x.Name}, "test %s is also a file of the policy directory or of another bundle", p)
				continue
			}
			l.set.Tests[p] = x.Tests[p]
		}
		for _, k := range slices.Sorted(maps.Keys(x.Data)) {
			if _, dup := l.set.Data[k]; dup {
				l.errorf(Pos{File: x.Name}, "data.%s is also in another bundle", k)
				continue
			}
			if l.set.Data == nil {
				l.set.Data = map[string]any{}
			}
			l.set.Data[k] = x.Data[k]
		}
	}
}
