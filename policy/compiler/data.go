package compiler

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// dataEnv is what policies' Rego modules may read besides the request and
// the Axon library: Input.Data documents and Input.DataModules packages (an
// OPA bundle's data and modules). It is the same for every partial
// evaluation of a compilation.
type dataEnv struct {
	data    map[string]any
	modules map[string]*ast.Module // by "data:" + module name
	// fp identifies data and modules in cache keys: a bundle whose data
	// changed re-evaluates every policy.
	fp []byte
}

// newDataEnv parses the data modules and checks that neither they nor the
// documents reach into data.axon, where the library keeps its state.
func newDataEnv(in *Input) (*dataEnv, error) {
	e := &dataEnv{data: in.Data}
	if _, ok := in.Data["axon"]; ok {
		return nil, &Error{Construct: "data.axon", Msg: "data documents may not be under data.axon (the Axon library's)", Hint: "rename the top-level key", Kind: ErrInvalid}
	}
	names := slices.Sorted(maps.Keys(in.DataModules))
	for _, name := range names {
		text := in.DataModules[name]
		m, err := ast.ParseModuleWithOpts(name, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			ce := &Error{File: name, Line: 1, Construct: "rego", Msg: fmt.Sprintf("parsing module: %v", err), Hint: "fix the module; `opa check` shows the same error", Kind: ErrInvalid}
			if errs, ok := err.(ast.Errors); ok && len(errs) > 0 && errs[0].Location != nil {
				ce.Line = errs[0].Location.Row
			}
			return nil, ce
		}
		if len(m.Package.Path) > 1 && m.Package.Path[1].Equal(ast.StringTerm("axon")) {
			return nil, &Error{File: name, Line: m.Package.Location.Row, Construct: m.Package.String(), Msg: "package data.axon is the Axon library's", Hint: "rename the package", Kind: ErrInvalid}
		}
		if e.modules == nil {
			e.modules = map[string]*ast.Module{}
		}
		e.modules["data:"+name] = m
	}
	if len(in.Data) > 0 || len(names) > 0 {
		b, err := json.Marshal(in.Data) // map keys sorted: stable
		if err != nil {
			return nil, fmt.Errorf("encoding data: %w", err)
		}
		for _, name := range names {
			b = append(b, 0)
			b = append(b, name...)
			b = append(b, 0)
			b = append(b, in.DataModules[name]...)
		}
		e.fp = b
	}
	return e, nil
}

// root returns the store's root document: the library's data.axon beside
// the data documents.
func (e *dataEnv) root(axon map[string]any) map[string]any {
	r := map[string]any{}
	if e != nil {
		maps.Copy(r, e.data)
	}
	r["axon"] = axon
	return r
}

// addModules adds the data modules (copies: the compiler rewrites what it
// is given) to mods.
func (e *dataEnv) addModules(mods map[string]*ast.Module) {
	if e == nil {
		return
	}
	for name, m := range e.modules {
		mods[name] = m.Copy()
	}
}
