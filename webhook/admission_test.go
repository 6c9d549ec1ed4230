package webhook_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/source"
)

// byWebhook is how the API server prefixes a refusal of this webhook.
const byWebhook = `admission webhook "l7networkpolicies.axon.dev" denied the request`

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// create creates obj, retrying briefly while the API server is still
// settling after the CRD install (envtest.md: a 429 right after install).
func create(ctx context.Context, obj client.Object) error {
	warnings.take()
	var err error
	for range 20 {
		err = k8s.Create(ctx, obj)
		if !apierrors.IsTooManyRequests(err) && !apierrors.IsNotFound(err) && !apierrors.IsServiceUnavailable(err) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
	return err
}

// exampleObjects reads the Kubernetes objects of examples/policies, as
// kubectl apply would (kind: List expanded, sample files skipped).
func exampleObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	dir := filepath.Join("..", "examples", "policies")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		if source.IsSampleFile(filepath.Base(f)) {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(fh, 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if u.Object == nil {
				continue
			}
			if u.IsList() {
				l, err := u.ToList()
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				for i := range l.Items {
					objs = append(objs, &l.Items[i])
				}
				continue
			}
			objs = append(objs, &u)
		}
		fh.Close()
	}
	return objs
}

// Every L7NetworkPolicy of examples/policies is admitted by the real API
// server with the webhook in the path. The Rego example names its module as
// a file (standalone mode); in a cluster that is refused with the field
// named, and the same module from a ConfigMap (kubectl create configmap
// --from-file) is admitted.
func TestExamplesAreAdmitted(t *testing.T) {
	requireAPI(t)
	ctx := context.Background()
	policies := 0
	objs := exampleObjects(t)
	// Namespaces first, as kubectl users apply them.
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return cmpBool(b.GetKind() == "Namespace", a.GetKind() == "Namespace")
	})
	for _, u := range objs {
		switch u.GetKind() {
		case "Namespace":
			ensureNamespace(t, u.GetName())
		case v1alpha1.Kind:
			policies++
			rego, _, _ := unstructured.NestedMap(u.Object, "spec", "rego")
			file, _ := rego["file"].(string)
			if file != "" {
				err := create(ctx, u.DeepCopy())
				if err == nil || !strings.Contains(err.Error(), byWebhook) || !strings.Contains(err.Error(), "spec.rego.file") {
					t.Errorf("%s with spec.rego.file: got %v, want a refusal naming spec.rego.file", u.GetName(), err)
				}
				text, err := os.ReadFile(filepath.Join("..", "examples", "policies", file))
				if err != nil {
					t.Fatal(err)
				}
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace()},
					Data: map[string]string{file: string(text)}}
				if err := create(ctx, cm); err != nil {
					t.Fatal(err)
				}
				_ = unstructured.SetNestedMap(u.Object, map[string]any{"configMapRef": map[string]any{"name": u.GetName(), "key": file}}, "spec", "rego")
			}
			if err := create(ctx, u); err != nil {
				t.Errorf("example %s/%s refused: %v", u.GetNamespace(), u.GetName(), err)
				continue
			}
			if w := warnings.take(); len(w) > 0 {
				t.Logf("example %s/%s admitted with warnings %q", u.GetNamespace(), u.GetName(), w)
			}
		}
	}
	if policies < 5 {
		t.Fatalf("only %d example policies", policies)
	}
	var list v1alpha1.L7NetworkPolicyList
	if err := k8s.List(ctx, &list, client.InNamespace("shop")); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != policies {
		t.Errorf("%d policies stored in shop, want %d", len(list.Items), policies)
	}
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func basePolicy(ns, name string) *v1alpha1.L7NetworkPolicy {
	return &v1alpha1.L7NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.L7NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
			Ports:       []v1alpha1.PortSpec{{Port: 8080}},
			Rules: []v1alpha1.Rule{{
				From: []v1alpha1.Peer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
				HTTP: []v1alpha1.HTTPRule{{Methods: []string{"GET"}, Paths: []v1alpha1.PathMatch{{Prefix: "/api"}}}},
			}},
		},
	}
}

const regoHead = "package tenants\n\nimport rego.v1\n\n"

// Each class of invalid object is refused through the API server, with the
// field path in the message. by says which layer refuses it: the CRD
// schema (OpenAPI and CEL rules, checked before admission webhooks run) or
// this webhook.
func TestInvalidObjectsAreRefused(t *testing.T) {
	requireAPI(t)
	ensureNamespace(t, "invalid")
	cases := []struct {
		name   string
		mutate func(p *v1alpha1.L7NetworkPolicy)
		by     string // "webhook" or "schema"
		want   []string
	}{
		{"bad CIDR", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].From = []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "10.0.0.0/33"}}}
		}, "webhook", []string{"spec.rules[0].from[0].ipBlock.cidr", "not a CIDR"}},
		{"CIDR with host bits", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].From = []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "10.1.2.3/8"}}}
		}, "webhook", []string{"spec.rules[0].from[0].ipBlock.cidr", "did you mean 10.0.0.0/8"}},
		{"bad glob", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].HTTP[0].Paths = []v1alpha1.PathMatch{{Exact: "/a"}, {Glob: "/v[12]/*"}}
		}, "webhook", []string{"spec.rules[0].http[0].paths[1].glob", "only *, ** and ? are supported"}},
		{"glob no canonical path matches", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].HTTP[0].Paths = []v1alpha1.PathMatch{{Glob: "/a/%?"}}
		}, "webhook", []string{"spec.rules[0].http[0].paths[0].glob", "not followed by two hex digits"}},
		{"non-canonical prefix", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].HTTP[0].Paths = []v1alpha1.PathMatch{{Prefix: "/api/../admin"}}
		}, "webhook", []string{"spec.rules[0].http[0].paths[0].prefix", "non-canonical path"}},
		{"duplicate method", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].HTTP[0].Methods = []string{"GET", "GET"}
		}, "webhook", []string{"spec.rules[0].http[0].methods[1]", "Duplicate value"}},
		{"unknown method token", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].HTTP[0].Methods = []string{"GET", "GE T"}
		}, "schema", []string{"spec.rules[0].http[0].methods[1]", "should match"}},
		{"unsupported Rego", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules = nil
			p.Spec.Rego = &v1alpha1.RegoSource{Inline: regoHead + "allow if {\n\tinput.method == \"GET\"\n}\n\nallow if {\n\tupper(input.path) == \"/X\"\n}\n"}
		}, "webhook", []string{"spec.rego.inline", "line 10: unsupported construct", "upper"}},
		{"Rego that does not parse", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules = nil
			p.Spec.Rego = &v1alpha1.RegoSource{Inline: regoHead + "allow if {\n\tinput.method ==\n}\n"}
		}, "webhook", []string{"spec.rego.inline", "line 7:", "rego_parse_error"}},
		{"Rego module file in a cluster", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{File: "tenants.rego"}
		}, "webhook", []string{"spec.rego.file", "standalone mode only"}},
		{"conflicting fields: rules and rego", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rego = &v1alpha1.RegoSource{Inline: regoHead + "allow if true\n"}
		}, "schema", []string{"spec", "rules and rego are mutually exclusive"}},
		{"conflicting fields: ipBlock with podSelector", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].From[0].IPBlock = &v1alpha1.IPBlock{CIDR: "10.0.0.0/8"}
		}, "schema", []string{"spec.rules[0].from[0]", "give ipBlock alone"}},
		{"conflicting fields: exact and prefix", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].HTTP[0].Paths[0].Exact = "/api"
		}, "schema", []string{"spec.rules[0].http[0].paths[0]", "Too many: 2: must have at most 1 item"}},
		{"too many rules", func(p *v1alpha1.L7NetworkPolicy) {
			for len(p.Spec.Rules) <= 1024 {
				p.Spec.Rules = append(p.Spec.Rules, p.Spec.Rules[0])
			}
		}, "schema", []string{"spec.rules", "Too many: 1025: must have at most 1024 items"}},
		{"duplicate port", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Ports = append(p.Spec.Ports, p.Spec.Ports[0])
		}, "schema", []string{"spec.ports[1]", "Duplicate value"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := basePolicy("invalid", "p"+strings.Repeat("x", i))
			c.mutate(p)
			err := create(context.Background(), p)
			if err == nil {
				t.Fatal("admitted")
			}
			msg := err.Error()
			if c.by == "webhook" && !strings.Contains(msg, byWebhook) {
				t.Errorf("not refused by the webhook: %s", msg)
			}
			if c.by == "schema" && (!apierrors.IsInvalid(err) || strings.Contains(msg, byWebhook)) {
				t.Errorf("not refused by the schema: %s", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			t.Logf("refused: %s", msg)
		})
	}
}

// Risky but valid objects are admitted, and the warnings reach the client
// as admission warnings (the Warning headers kubectl prints).
func TestRiskyObjectsGetWarnings(t *testing.T) {
	requireAPI(t)
	ensureNamespace(t, "risky")
	cases := []struct {
		name   string
		mutate func(p *v1alpha1.L7NetworkPolicy)
		want   string
	}{
		{"enforce without an allow rule", func(p *v1alpha1.L7NetworkPolicy) { p.Spec.Rules[0].Action = v1alpha1.ActionDeny },
			"spec.rules: Enforce policy with defaultAction Deny and no Allow rule"},
		{"prefix shadows an exact path", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].HTTP[0].Paths = append(p.Spec.Rules[0].HTTP[0].Paths, v1alpha1.PathMatch{Exact: "/api/orders"})
		}, "spec.rules[0].http[0].paths[1].exact: /api/orders is covered by prefix /api at spec.rules[0].http[0].paths[0].prefix"},
		{"empty http list", func(p *v1alpha1.L7NetworkPolicy) { p.Spec.Rules[0].HTTP = []v1alpha1.HTTPRule{} },
			"spec.rules[0].http: empty list matches no request"},
		{"lower-case method", func(p *v1alpha1.L7NetworkPolicy) { p.Spec.Rules[0].HTTP[0].Methods = []string{"get"} },
			"spec.rules[0].http[0].methods[0]: methods are case-sensitive"},
		{"contradicting podSelector", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpDoesNotExist}}
		}, "spec.podSelector: its requirements contradict each other"},
		{"Rego in a missing ConfigMap", func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{ConfigMapRef: &v1alpha1.ConfigMapKeyRef{Name: "nowhere", Key: "x.rego"}}
		}, "spec.rego.configMapRef: ConfigMap nowhere has no key"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := basePolicy("risky", "p"+strings.Repeat("x", i))
			c.mutate(p)
			if err := create(context.Background(), p); err != nil {
				t.Fatalf("refused: %v", err)
			}
			got := warnings.take()
			if !slices.ContainsFunc(got, func(w string) bool { return strings.HasPrefix(w, c.want) }) {
				t.Errorf("warnings %q lack %q", got, c.want)
			}
		})
	}
}

// A module in a ConfigMap is compiled at admission: a bad one is refused
// with the ConfigMap, key and line, a good one admitted.
func TestConfigMapRegoIsCompiled(t *testing.T) {
	requireAPI(t)
	ctx := context.Background()
	ensureNamespace(t, "cmrego")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "tenants", Namespace: "cmrego"}, Data: map[string]string{
		"good.rego": regoHead + "allow if input.method == \"GET\"\n",
		"bad.rego":  regoHead + "allow if {\n\tcount(input.path) > 5\n}\n",
	}}
	if err := create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"good.rego", "bad.rego"} {
		p := basePolicy("cmrego", strings.TrimSuffix(key, ".rego"))
		p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{ConfigMapRef: &v1alpha1.ConfigMapKeyRef{Name: "tenants", Key: key}}
		err := create(ctx, p)
		switch key {
		case "good.rego":
			if err != nil {
				t.Errorf("good module refused: %v", err)
			}
		case "bad.rego":
			if err == nil || !strings.Contains(err.Error(), `spec.rego.configMapRef: Unsupported value: ConfigMap tenants key "bad.rego" line 6: unsupported construct`) {
				t.Errorf("bad module: got %v", err)
			}
		}
	}
}

// An update that leaves the spec alone is admitted without compiling; one
// that breaks the spec is refused.
func TestUpdates(t *testing.T) {
	requireAPI(t)
	ctx := context.Background()
	ensureNamespace(t, "updates")
	p := basePolicy("updates", "p")
	if err := create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Labels = map[string]string{"team": "shop"}
	if err := k8s.Update(ctx, p); err != nil {
		t.Fatalf("label change refused: %v", err)
	}
	p.Spec.Rules[0].HTTP[0].Paths[0].Prefix = "/api//x"
	err := k8s.Update(ctx, p)
	if err == nil || !strings.Contains(err.Error(), byWebhook) || !strings.Contains(err.Error(), "spec.rules[0].http[0].paths[0].prefix") {
		t.Errorf("bad update: got %v", err)
	}
}
