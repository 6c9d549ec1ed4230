package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	sigsyaml "sigs.k8s.io/yaml"
)

const crdFile = "../../crds/axon.dev_l7networkpolicies.yaml"

func loadCRD(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatalf("the generated CRD is missing (run scripts/gen-crds.sh): %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := sigsyaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatal(err)
	}
	return &crd
}

// The CRD serves the kind users write: axon.dev/v1alpha1 L7NetworkPolicy,
// namespaced, with a status subresource.
func TestCRDServesTheAPI(t *testing.T) {
	crd := loadCRD(t)
	if crd.Spec.Group != GroupVersion.Group || crd.Spec.Names.Kind != Kind || crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
		t.Errorf("CRD is %s %s %s", crd.Spec.Group, crd.Spec.Names.Kind, crd.Spec.Scope)
	}
	if len(crd.Spec.Versions) != 1 {
		t.Fatalf("versions = %d", len(crd.Spec.Versions))
	}
	v := crd.Spec.Versions[0]
	if v.Name != GroupVersion.Version || !v.Served || !v.Storage || v.Subresources == nil || v.Subresources.Status == nil {
		t.Errorf("version %s served=%v storage=%v subresources=%v", v.Name, v.Served, v.Storage, v.Subresources)
	}
	rule := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties["rules"].Items.Schema
	for _, f := range []string{"from", "http"} {
		if slices.Contains(rule.Required, f) {
			t.Errorf("rules[].%s is required; omitting it must mean any", f)
		}
	}
}

func schemaValidator(t *testing.T) *validate.SchemaValidator {
	t.Helper()
	crd := loadCRD(t)
	b, err := json.Marshal(crd.Spec.Versions[0].Schema.OpenAPIV3Schema)
	if err != nil {
		t.Fatal(err)
	}
	var s spec.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return validate.NewSchemaValidator(&s, nil, "", strfmt.Default)
}

// examplePolicies returns the L7NetworkPolicy documents of examples/policies
// as generic JSON objects, the way the API server sees them.
func examplePolicies(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob("../../examples/policies/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example policies: %v", err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		if filepath.Base(f) == "samples.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc["kind"] != Kind {
				continue
			}
			js, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := json.Unmarshal(js, &obj); err != nil {
				t.Fatal(err)
			}
			meta, _ := obj["metadata"].(map[string]any)
			out[fmt.Sprintf("%s:%v", filepath.Base(f), meta["name"])] = obj
		}
	}
	return out
}

// `kubectl apply -f examples/policies` must be accepted by the CRD schema.
func TestExamplePoliciesMatchTheCRDSchema(t *testing.T) {
	v := schemaValidator(t)
	policies := examplePolicies(t)
	if len(policies) < 5 {
		t.Errorf("found %d example policies, want at least 5", len(policies))
	}
	for name, obj := range policies {
		if res := v.Validate(obj); !res.IsValid() {
			t.Errorf("%s: %v", name, res.Errors)
		}
	}
}

// The schema rejects what the API server must never store.
func TestCRDSchemaRejects(t *testing.T) {
	v := schemaValidator(t)
	base := func() map[string]any {
		return map[string]any{
			"apiVersion": "axon.dev/v1alpha1", "kind": Kind,
			"metadata": map[string]any{"name": "p", "namespace": "shop"},
			"spec": map[string]any{
				"podSelector": map[string]any{},
				"ports":       []any{map[string]any{"port": 8080}},
				"rules": []any{map[string]any{
					"http": []any{map[string]any{"methods": []any{"GET"}, "paths": []any{map[string]any{"prefix": "/api"}}}},
				}},
			},
		}
	}
	spec := func(o map[string]any) map[string]any { return o["spec"].(map[string]any) }
	http0 := func(o map[string]any) map[string]any {
		return spec(o)["rules"].([]any)[0].(map[string]any)["http"].([]any)[0].(map[string]any)
	}
	if res := v.Validate(base()); !res.IsValid() {
		t.Fatalf("base policy rejected: %v", res.Errors)
	}
	cases := map[string]func(o map[string]any){
		"lower-case mode":   func(o map[string]any) { spec(o)["mode"] = "enforce" },
		"unknown action":    func(o map[string]any) { spec(o)["defaultAction"] = "Reject" },
		"port 0":            func(o map[string]any) { spec(o)["ports"] = []any{map[string]any{"port": 0}} },
		"port 65536":        func(o map[string]any) { spec(o)["ports"] = []any{map[string]any{"port": 65536}} },
		"no ports":          func(o map[string]any) { spec(o)["ports"] = []any{} },
		"no podSelector":    func(o map[string]any) { delete(spec(o), "podSelector") },
		"method with space": func(o map[string]any) { http0(o)["methods"] = []any{"GE T"} },
		"empty methods":     func(o map[string]any) { http0(o)["methods"] = []any{} },
		"pattern too long": func(o map[string]any) {
			long := make([]byte, 128)
			for i := range long {
				long[i] = 'a'
			}
			long[0] = '/'
			http0(o)["paths"] = []any{map[string]any{"exact": string(long)}}
		},
	}
	for name, mutate := range cases {
		o := base()
		mutate(o)
		if res := v.Validate(o); res.IsValid() {
			t.Errorf("%s: accepted", name)
		}
	}
}
