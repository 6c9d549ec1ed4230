package source

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/axon-dev/axon/api/v1alpha1"
)

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const cluster = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: shop, labels: {team: shop}}
- apiVersion: v1
  kind: Pod
  metadata: {name: orders-0, namespace: shop, labels: {app: orders}}
  status: {podIP: 10.78.0.10, podIPs: [{ip: 10.78.0.10}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
status: {podIP: 10.78.0.20}
---
# an empty document
---
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
`

const policies = `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: orders-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  rules:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    http: [{methods: [GET], paths: [{prefix: /api/v1}]}]
  - action: Deny
    from: []
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: reports, namespace: shop}
spec:
  podSelector: {}
  ports: [{port: 8080}]
  mode: Audit
  rego: {file: rego/reports.rego}
`

func TestLoadGoodDirectory(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"cluster.yaml":              cluster,
		"policies/policies.yml":     policies,
		"rego/reports.rego":         "package reports\n",
		"rego/reports_test.rego":    "package reports_test\n",
		"samples.yaml":              "- not: an object\n",
		"README.md":                 "# not read\n",
		".hidden/broken.yaml":       "{{{",
		"extra/orders.samples.yaml": "also: [skipped",
	})
	set, problems, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if errs := problems.Errors(); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	w := problems.Warnings()
	if len(w) != 2 || w[0].Pos.String() != "cluster.yaml:19" || !strings.Contains(w[0].Msg, "Service") ||
		w[1].Pos.String() != "policies/policies.yml:11" || !strings.Contains(w[1].Msg, "matches no source") {
		t.Errorf("warnings = %v, want the Service at cluster.yaml:19 skipped, from: [] at policies.yml:11", w)
	}

	if len(set.Namespaces) != 1 || set.Namespaces[0].Labels[LabelNamespaceName] != "shop" || set.Namespaces[0].Labels["team"] != "shop" {
		t.Errorf("namespaces = %+v", set.Namespaces)
	}
	var pods []string
	for _, p := range set.Pods {
		pods = append(pods, p.Namespace+"/"+p.Name)
	}
	if !slices.Equal(pods, []string{"shop/orders-0", "shop/web-0"}) {
		t.Errorf("pods = %v", pods)
	}
	if len(set.Policies) != 2 {
		t.Fatalf("policies = %d, want 2", len(set.Policies))
	}
	api, reports := set.Policies[0], set.Policies[1]
	if api.Name != "orders-api" || reports.Name != "reports" {
		t.Fatalf("policies not sorted by name: %s, %s", api.Name, reports.Name)
	}
	if api.Spec.Mode != v1alpha1.ModeEnforce || api.Spec.DefaultAction != v1alpha1.ActionDeny ||
		api.Spec.Rules[0].Action != v1alpha1.ActionAllow {
		t.Errorf("defaults not applied: %+v", api.Spec)
	}
	if api.Spec.Rules[0].HTTP == nil || api.Spec.Rules[1].HTTP != nil {
		t.Errorf("http omitted/present lost")
	}
	if f := api.Spec.Rules[1].From; f == nil || len(f) != 0 {
		t.Errorf("from: [] decoded as %#v", f)
	}
	if got := api.Annotations[v1alpha1.AnnotationOrigin]; got != "policies/policies.yml:1" {
		t.Errorf("origin = %q", got)
	}
	if got := api.Annotations[v1alpha1.AnnotationRuleOrigins]; got != "policies/policies.yml:8,policies/policies.yml:10" {
		t.Errorf("rule origins = %q", got)
	}
	if got := reports.Annotations[v1alpha1.AnnotationOrigin]; got != "policies/policies.yml:13" {
		t.Errorf("origin = %q", got)
	}
	if _, ok := set.Modules["rego/reports.rego"]; !ok || len(set.Modules) != 1 {
		t.Errorf("modules = %v", set.Modules)
	}
	if _, ok := set.Tests["rego/reports_test.rego"]; !ok || len(set.Tests) != 1 {
		t.Errorf("tests = %v", set.Tests)
	}
}

// Each broken file is reported at its line, and the good objects around it
// still load.
func TestLoadReportsBrokenFiles(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"cluster.yaml": cluster,
		"syntax.yaml":  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n",
		"bad.yaml": `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: typo, namespace: shop}
spec:
  podSelecter: {}
  ports: [{port: 8080}]
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: bad-path, namespace: shop}
spec:
  podSelector: {}
  ports: [{port: 8080}]
  rules:
  - http:
    - paths:
      - exact: /ok
      - prefix: /a/../admin
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: null-from, namespace: shop}
spec:
  podSelector: {}
  ports: [{port: 8080}]
  rules:
  - from:
    http: [{paths: [{exact: /x}]}]
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: null-from, namespace: shop}
spec: {podSelector: {}, ports: [{port: 9090}]}
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: missing-rego, namespace: shop}
spec:
  podSelector: {}
  ports: [{port: 8080}]
  rego:
    file: nowhere.rego
---
apiVersion: axon.dev/v1beta1
kind: L7NetworkPolicy
metadata: {name: wrong-version}
---
apiVersion: v1
kind: Pod
metadata: {name: thief, namespace: shop}
status: {podIP: 10.78.0.20}
---
just: a mapping
`,
	})
	set, problems, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ pos, sev, text string }
	wants := []want{
		{"bad.yaml:5", "error", `unknown field "podSelecter"`},
		{"bad.yaml:18", "error", "spec.rules[0].http[0].paths[1].prefix"},
		{"bad.yaml:27", "warning", "from is null"},
		{"bad.yaml:30", "error", "defined twice (first at bad.yaml:20)"},
		{"bad.yaml:42", "error", `spec.rego.file "nowhere.rego"`},
		{"bad.yaml:44", "error", `unsupported apiVersion "axon.dev/v1beta1"`},
		{"bad.yaml:53", "error", "no apiVersion or kind"},
		// bad.yaml is read first, so the pod it holds takes the IP.
		{"cluster.yaml:12", "error", "IP 10.78.0.20 is already the IP of the pod at bad.yaml:48"},
		{"cluster.yaml:19", "warning", "skipping v1 Service"},
		{"syntax.yaml:", "error", "parsing YAML"},
	}
	if len(problems) != len(wants) {
		t.Errorf("got %d problems, want %d:\n%v", len(problems), len(wants), problems)
	}
	for i, w := range wants {
		if i >= len(problems) {
			break
		}
		p := problems[i]
		if !strings.HasPrefix(p.Pos.String(), w.pos) || p.Severity.String() != w.sev || !strings.Contains(p.Msg, w.text) {
			t.Errorf("problem %d = %s, want %s: %s: ...%s...", i, p, w.pos, w.sev, w.text)
		}
	}
	err = problems.Err()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "bad.yaml:18: error:") {
		t.Errorf("Err() = %v", err)
	}
	var names []string
	for _, p := range set.Policies {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"null-from"}) {
		t.Errorf("loaded policies %v, want only the valid null-from", names)
	}
	if len(set.Pods) != 2 || set.Pods[1].Name != "thief" {
		t.Errorf("loaded pods %+v, want orders-0 and thief", set.Pods)
	}
}

func TestLoadConfigMapModules(t *testing.T) {
	dir := writeDir(t, map[string]string{"p.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: rego, namespace: shop}
data:
  reports.rego: |
    package reports
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: good, namespace: shop}
spec:
  podSelector: {}
  ports: [{port: 8080}]
  rego: {configMapRef: {name: rego, key: reports.rego}}
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: bad-key, namespace: shop}
spec:
  podSelector: {}
  ports: [{port: 8080}]
  rego:
    configMapRef: {name: rego, key: nope.rego}
---
apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: other-namespace, namespace: jobs}
spec:
  podSelector: {}
  ports: [{port: 8080}]
  rego:
    configMapRef: {name: rego, key: reports.rego}
`})
	set, problems, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	errs := problems.Errors()
	if len(errs) != 2 || errs[0].Pos.String() != "p.yaml:23" || !strings.Contains(errs[0].Msg, `no ConfigMap shop/rego with key "nope.rego"`) ||
		errs[1].Pos.String() != "p.yaml:32" || !strings.Contains(errs[1].Msg, "no ConfigMap jobs/rego") {
		t.Errorf("errors = %v", errs)
	}
	if len(set.Policies) != 1 || set.Policies[0].Name != "good" || len(set.ConfigMaps) != 1 {
		t.Errorf("policies %d, config maps %d; want good and its ConfigMap", len(set.Policies), len(set.ConfigMaps))
	}
}

// kubectl get pods -A -o yaml lists host-network pods, which share the
// node's IP, and finished pods, whose IP may already be reused.
func TestHostNetworkAndFinishedPodsShareIPs(t *testing.T) {
	pod := func(name, extra string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: kube-system}\n" + extra + "---\n"
	}
	dir := writeDir(t, map[string]string{"pods.yaml": pod("proxy-a", "spec: {hostNetwork: true}\nstatus: {podIP: 10.78.2.1}\n") +
		pod("proxy-b", "spec: {hostNetwork: true}\nstatus: {podIP: 10.78.2.1}\n") +
		pod("job-done", "status: {phase: Succeeded, podIP: 10.78.2.9}\n") +
		pod("job-new", "status: {phase: Running, podIP: 10.78.2.9}\n")})
	set, problems, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if errs := problems.Errors(); len(errs) > 0 {
		t.Errorf("errors: %v", errs)
	}
	if len(set.Pods) != 4 {
		t.Errorf("loaded %d pods, want 4", len(set.Pods))
	}
	if ip, err := set.ResolveAddr("job-new"); err != nil || ip.String() != "10.78.2.9" {
		t.Errorf("job-new resolves to %v, %v", ip, err)
	}
	if p := set.PodByAddr(netip.MustParseAddr("10.78.2.9")); p == nil || p.Name != "job-new" {
		t.Errorf("PodByAddr(10.78.2.9) = %v, want job-new", p)
	}
	if p := set.PodByAddr(netip.MustParseAddr("10.78.2.1")); p != nil {
		t.Errorf("PodByAddr(node IP) = %s, want none", p.Name)
	}
}

func TestLoadMissingDirectory(t *testing.T) {
	if _, _, err := Load(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}

func TestUndeclaredNamespaceIsAssumed(t *testing.T) {
	dir := writeDir(t, map[string]string{"p.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nstatus: {podIP: 10.78.1.1}\n"})
	set, problems, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Pods) != 1 || set.Pods[0].Namespace != DefaultNamespace {
		t.Fatalf("pods = %+v", set.Pods)
	}
	if len(set.Namespaces) != 1 || set.Namespaces[0].Name != DefaultNamespace {
		t.Errorf("namespaces = %+v", set.Namespaces)
	}
	if w := problems.Warnings(); len(w) != 1 || w[0].Pos.String() != "p.yaml:1" || !strings.Contains(w[0].Msg, "not declared") {
		t.Errorf("warnings = %v", w)
	}
}

func TestCmpNamespaced(t *testing.T) {
	names := []string{"a", "a-b", "a.b", "ab", "a0", "b", "", "A"}
	for _, ans := range names {
		for _, bns := range names {
			for _, an := range names {
				for _, bn := range names {
					want := strings.Compare(ans+"/"+an, bns+"/"+bn)
					if got := cmpNamespaced(ans, an, bns, bn); got != want {
						t.Fatalf("cmpNamespaced(%q, %q, %q, %q) = %d, want %d", ans, an, bns, bn, got, want)
					}
				}
			}
		}
	}
}
