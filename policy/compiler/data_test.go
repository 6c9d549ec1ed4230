package compiler

import (
	"context"
	"errors"
	"testing"
)

const dataModule = `package tenants

import rego.v1

import data.lib.paths

deny if paths.admin(input.path)

allow if input.method in data.config.methods

allow if input.source.namespace == data.config.namespace
`

const libModule = `package lib.paths

import rego.v1

admin(p) if startswith(p, data.config.admin_prefix)
`

// A policy module that reads bundle data (data.config) and imports a bundle
// package (data.lib.paths) compiles to the decisions the data implies, the
// same as OPA's; new data gives a new table also through the cache.
func TestDataAndDataModules(t *testing.T) {
	ctx := context.Background()
	in := regoInput()
	in.Modules["tenants.rego"] = dataModule
	in.DataModules = map[string]string{"/lib/paths.rego": libModule, "/tenants.rego": dataModule}
	in.Data = map[string]any{"config": map[string]any{
		"methods": []any{"GET"}, "namespace": "ops", "admin_prefix": "/admin",
	}}
	cache := NewCache()
	tab, err := Compile(ctx, in, WithCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	check := func(tab *Table, in *Input, cases map[Request]DecisionAction) {
		t.Helper()
		o, err := NewOracle(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for r, want := range cases {
			got := tab.Decide(r)
			if got.Action != want {
				t.Errorf("%s %s from %s: %v, want %v", r.Method, r.Target, r.Src, got.Action, want)
			}
			od, err := o.Decide(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if od != got {
				t.Errorf("%s %s from %s: table %+v, OPA %+v", r.Method, r.Target, r.Src, got, od)
			}
		}
	}
	check(tab, in, map[Request]DecisionAction{
		req("10.1.0.2", "GET", "/x"):      DecisionAllow,
		req("10.1.0.2", "POST", "/x"):     DecisionDeny,
		req("10.1.0.4", "POST", "/x"):     DecisionAllow, // namespace ops
		req("10.1.0.4", "GET", "/admin/"): DecisionDeny,
	})

	in.Data = map[string]any{"config": map[string]any{
		"methods": []any{"POST"}, "namespace": "nowhere", "admin_prefix": "/root",
	}}
	tab, err = Compile(ctx, in, WithCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	check(tab, in, map[Request]DecisionAction{
		req("10.1.0.2", "GET", "/x"):      DecisionDeny,
		req("10.1.0.2", "POST", "/x"):     DecisionAllow,
		req("10.1.0.4", "GET", "/admin/"): DecisionDeny,
		req("10.1.0.4", "POST", "/admin"): DecisionAllow,
		req("10.1.0.4", "POST", "/root"):  DecisionDeny,
	})
}

// Data and data modules may not reach into data.axon, the library's.
func TestDataMayNotShadowTheLibrary(t *testing.T) {
	in := regoInput()
	in.Data = map[string]any{"axon": map[string]any{"policies": []any{}}}
	if _, err := Compile(context.Background(), in); !errors.Is(err, ErrInvalid) {
		t.Errorf("data.axon document: %v", err)
	}
	in = regoInput()
	in.DataModules = map[string]string{"x.rego": "package axon.authz\n\nimport rego.v1\n\nmatched contains 1 if true\n"}
	if _, err := Compile(context.Background(), in); !errors.Is(err, ErrInvalid) {
		t.Errorf("package axon.authz: %v", err)
	}
}
