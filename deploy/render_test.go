package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// render builds a kustomization folder as `kubectl apply -k` does (load
// restrictions on: no file outside the folder but through other
// kustomizations).
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		out = append(out, u)
	}
	return out
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func version(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func containerOf(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%s/%s has %d containers", o.GetKind(), o.GetName(), len(cs))
	}
	return cs[0].(map[string]any)
}

// deploy/ renders; it carries every CRD of crds/, puts every namespaced
// object in axon-system, points every webhook at the axon-webhook Service,
// and references the images `make images` builds by VERSION's tag.
func TestRender(t *testing.T) {
	objs := render(t, ".")

	files, _ := filepath.Glob("../crds/axon.dev_*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd unstructured.Unstructured
		if err := sigsyaml.Unmarshal(b, &crd.Object); err != nil {
			t.Fatal(err)
		}
		if find(objs, "CustomResourceDefinition", crd.GetName()) == nil {
			t.Errorf("%s is not in deploy/ (list it in crds/kustomization.yaml)", f)
		}
	}

	for _, o := range objs {
		namespaced := o.GetNamespace() != ""
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
			"ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			if namespaced {
				t.Errorf("%s/%s has namespace %s", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		default:
			if o.GetNamespace() != "axon-system" {
				t.Errorf("%s/%s is in namespace %q, want axon-system", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
		if o.GetLabels()["app.kubernetes.io/part-of"] != "axon" {
			t.Errorf("%s/%s lacks the part-of label (uninstall by label misses it)", o.GetKind(), o.GetName())
		}
	}

	vwc := find(objs, "ValidatingWebhookConfiguration", "axon-validating-webhook")
	if vwc == nil {
		t.Fatal("no ValidatingWebhookConfiguration axon-validating-webhook (the controller's --webhook-config)")
	}
	hooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
	if len(hooks) == 0 {
		t.Fatal("no webhooks")
	}
	for _, h := range hooks {
		svc, _, _ := unstructured.NestedStringMap(h.(map[string]any), "clientConfig", "service")
		if svc["name"] != "axon-webhook" || svc["namespace"] != "axon-system" {
			t.Errorf("webhook %v calls service %v, want axon-system/axon-webhook", h.(map[string]any)["name"], svc)
		}
	}
	if find(objs, "Service", "axon-webhook") == nil {
		t.Error("no Service axon-webhook")
	}

	v := version(t)
	ctl := containerOf(t, find(objs, "Deployment", "axon-controller"))
	if ctl["image"] != "ghcr.io/axon-dev/axon-controller:"+v {
		t.Errorf("controller image %v, want ghcr.io/axon-dev/axon-controller:%s", ctl["image"], v)
	}
	args, _, _ := unstructured.NestedStringSlice(ctl, "args")
	for _, want := range []string{"--agent-image=ghcr.io/axon-dev/axon-agent:" + v, "--webhook-config=axon-validating-webhook", "--leader-elect"} {
		if !slices.Contains(args, want) {
			t.Errorf("controller args %q lack %q", args, want)
		}
	}
	svc := find(objs, "Service", "axon-webhook")
	if sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector"); sel["app.kubernetes.io/name"] != "axon-controller" {
		t.Errorf("Service axon-webhook selects %v, want the controller pods (they serve the webhook)", sel)
	}
}

// deploy/cleanup runs the same agent image as the controller installs.
func TestCleanupImage(t *testing.T) {
	objs := render(t, "cleanup")
	ds := find(objs, "DaemonSet", "axon-cleanup")
	if ds == nil {
		t.Fatal("no DaemonSet axon-cleanup")
	}
	ics, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "initContainers")
	if len(ics) != 1 {
		t.Fatalf("%d init containers", len(ics))
	}
	ic := ics[0].(map[string]any)
	if want := "ghcr.io/axon-dev/axon-agent:" + version(t); ic["image"] != want {
		t.Errorf("cleanup image %v, want %s", ic["image"], want)
	}
	if args, _, _ := unstructured.NestedStringSlice(ic, "args"); !slices.Equal(args, []string{"cleanup", "--pin-dir=/sys/fs/bpf/axon"}) {
		t.Errorf("cleanup args %q", args)
	}
}

// deploy/monitoring's PrometheusRule carries exactly dashboards/alerts.yaml.
func TestPrometheusRuleIsAlertsYAML(t *testing.T) {
	objs := render(t, "monitoring")
	pr := find(objs, "PrometheusRule", "axon")
	if pr == nil {
		t.Fatal("no PrometheusRule axon")
	}
	b, err := os.ReadFile("../dashboards/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var alerts map[string]any
	if err := sigsyaml.Unmarshal(b, &alerts); err != nil {
		t.Fatal(err)
	}
	got, _ := sigsyaml.Marshal(pr.Object["spec"])
	want, _ := sigsyaml.Marshal(alerts)
	if string(got) != string(want) {
		t.Errorf("deploy/monitoring/prometheusrule.yaml differs from dashboards/alerts.yaml: run scripts/gen-deploy.sh")
	}
	for _, kind := range []string{"ServiceMonitor", "Service"} {
		ok := false
		for _, o := range objs {
			ok = ok || o.GetKind() == kind
		}
		if !ok {
			t.Errorf("no %s in deploy/monitoring", kind)
		}
	}
}
