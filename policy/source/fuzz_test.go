package source

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/axon-dev/axon/policy/compiler"
)

// FuzzLoadFS feeds a fuzzed policy file (and a fuzzed Rego module beside
// it) to the policy-folder loader, next to a fixed cluster file. The loader
// must not panic and must place every problem in one of the files; a folder
// it loads without errors must compile, unless the compiler refuses a Rego
// module (ErrUnsupported, or a module error): a policy the loader (and the
// webhook, which validates alike) accepts is never ErrInvalid to the
// compiler, which would block the agent's whole policy set.
func FuzzLoadFS(f *testing.F) {
	f.Add(policies, "")
	f.Add("apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  podSelector: {}\n  ports: [{port: 80}]\n  rules:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n    http: [{methods: [GET], paths: [{glob: \"/a/**\"}, {prefix: /b}, {exact: \"*\"}]}]\n", "")
	f.Add("apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: r, namespace: shop}\nspec:\n  podSelector: {}\n  ports: [{port: 80}]\n  rego: {file: m.rego}\n", "package m\n\nimport rego.v1\n\nallow if input.method == \"GET\"\n")
	f.Add("apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  ports: [{port: 80}, {port: 80}]\n  rules: [{http: [{paths: [{glob: \"/a/***\"}]}]}]\n", "")
	f.Add("apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  ports: [{port: 80}]\n  rules: [{from: [{ipBlock: {cidr: 10.0.0.1/8}}]}]\n", "")
	f.Add("kind: L7NetworkPolicy\nspec: [\n", "package")
	f.Fuzz(func(t *testing.T, policy, module string) {
		if len(policy) > 8192 || len(module) > 4096 {
			return
		}
		fsys := fstest.MapFS{
			"cluster.yaml": {Data: []byte(cluster)},
			"p.yaml":       {Data: []byte(policy)},
			"m.rego":       {Data: []byte(module)},
		}
		set, problems, err := LoadFS(fsys)
		if err != nil {
			t.Fatalf("LoadFS: %v", err)
		}
		for _, p := range problems {
			if _, ok := fsys[p.Pos.File]; !ok {
				t.Errorf("problem %v names no file of the folder", p)
			}
		}
		if len(problems.Errors()) > 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		in := set.Input()
		_, err = compiler.Compile(ctx, in)
		if err == nil || ctx.Err() != nil {
			return
		}
		for _, p := range in.Policies {
			if p.Spec.Rego != nil {
				return // Rego modules are checked by the compiler only
			}
		}
		if errors.Is(err, compiler.ErrInvalid) {
			t.Fatalf("loaded without errors, but the compiler says invalid: %v\npolicy file:\n%s", err, policy)
		}
	})
}
