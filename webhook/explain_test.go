package webhook_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const policySchema = "dev.axon.v1alpha1.L7NetworkPolicy"

// kubectl explain reads the OpenAPI v3 document the API server publishes for
// the group. Every field of the installed CRD has a description there
// (metadata's is the API server's own), and the CRD as stored has the
// printer columns, short names and status subresource.
func TestExplainDescribesEveryField(t *testing.T) {
	requireAPI(t)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		paths, err := dc.OpenAPIV3().Paths()
		if err != nil {
			t.Fatal(err)
		}
		if gv, ok := paths["apis/axon.dev/v1alpha1"]; ok {
			b, err := gv.Schema("application/json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Components.Schemas[policySchema] != nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server publishes no OpenAPI v3 schema %s", policySchema)
		}
		time.Sleep(200 * time.Millisecond)
	}
	root := doc.Components.Schemas[policySchema]
	var missing []string
	fields := 0
	var walk func(s map[string]any, path string)
	walk = func(s map[string]any, path string) {
		props, _ := s["properties"].(map[string]any)
		for name, v := range props {
			sub, _ := v.(map[string]any)
			p := path + "." + name
			fields++
			if d, _ := sub["description"].(string); strings.TrimSpace(d) == "" {
				missing = append(missing, p)
			}
			walk(sub, p)
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(items, path+"[]")
		}
	}
	walk(root, "L7NetworkPolicy")
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("fields without a description (kubectl explain shows nothing): %s", strings.Join(missing, ", "))
	}
	if fields < 40 {
		t.Errorf("only %d fields in the published schema", fields)
	}
	for _, f := range []string{"spec.rules[].http[].paths[].glob", "status.conditions[].reason", "status.observedGeneration"} {
		if !hasPath(root, f) {
			t.Errorf("published schema lacks %s", f)
		}
	}

	var crd apiextensionsv1.CustomResourceDefinition
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "l7networkpolicies.axon.dev"}, &crd); err != nil {
		t.Fatal(err)
	}
	if got := crd.Spec.Names.ShortNames; len(got) == 0 {
		t.Error("no short names")
	}
	v := crd.Spec.Versions[0]
	if v.Subresources == nil || v.Subresources.Status == nil {
		t.Error("no status subresource")
	}
	cols := map[string]bool{}
	for _, c := range v.AdditionalPrinterColumns {
		cols[c.Name] = true
	}
	for _, c := range []string{"Mode", "Default", "Accepted", "Enforced", "Age"} {
		if !cols[c] {
			t.Errorf("no printer column %s", c)
		}
	}
}

func hasPath(s map[string]any, path string) bool {
	for _, part := range strings.Split(path, ".") {
		name, list := strings.CutSuffix(part, "[]")
		props, _ := s["properties"].(map[string]any)
		if s, _ = props[name].(map[string]any); s == nil {
			return false
		}
		if list {
			if s, _ = s["items"].(map[string]any); s == nil {
				return false
			}
		}
	}
	return true
}
