package agentset

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/axon-dev/axon/agent"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/bpf"
)

// Each AxonAgent field reaches the pod template; unset ones get the
// documented defaults.
func TestDaemonSetFromSpec(t *testing.T) {
	o := Options{Namespace: "axon-system", DefaultImage: "img:default"}
	a := &v1alpha1.AxonAgent{}
	a.Name = "default"
	ds, err := DaemonSet(a, o)
	if err != nil {
		t.Fatal(err)
	}
	c := ds.Spec.Template.Spec.Containers[0]
	if c.Image != "img:default" || c.Resources.Limits.Memory().String() != "512Mi" {
		t.Errorf("defaults: image %s limits %v", c.Image, c.Resources.Limits)
	}
	if ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.IntValue() != 1 || ds.Spec.Template.Spec.PriorityClassName != "system-node-critical" {
		t.Errorf("defaults: strategy %+v priority %s", ds.Spec.UpdateStrategy, ds.Spec.Template.Spec.PriorityClassName)
	}

	a.Spec = v1alpha1.AxonAgentSpec{
		Image: "img:v2", ImagePullPolicy: corev1.PullAlways, LogLevel: "warn", LogFormat: "text",
		MetricsPort: 9962, AttachMode: "clsact", Observe: ptr.To(false),
		Tolerations:      []corev1.Toleration{},
		Resources:        &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
		MaxUnavailable:   ptr.To(intstr.FromString("20%")),
		ExtraArgs:        []string{"--event-rate=500"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
	}
	ds, err = DaemonSet(a, o)
	if err != nil {
		t.Fatal(err)
	}
	ps := ds.Spec.Template.Spec
	c = ps.Containers[0]
	for _, want := range []string{"--metrics-addr=0.0.0.0:9962", "--attach-mode=clsact", "--log-level=warn", "--log-format=text", "--observe=false"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	if c.Args[len(c.Args)-1] != "--event-rate=500" {
		t.Errorf("extraArgs not last: %q", c.Args)
	}
	if c.Image != "img:v2" || c.ImagePullPolicy != corev1.PullAlways || c.Ports[0].HostPort != 9962 {
		t.Errorf("image %s policy %s port %+v", c.Image, c.ImagePullPolicy, c.Ports)
	}
	if len(ps.Tolerations) != 0 {
		t.Errorf("an empty tolerations list must tolerate nothing, got %+v", ps.Tolerations)
	}
	if c.Resources.Limits.Memory().String() != "1Gi" || c.Resources.Requests != nil {
		t.Errorf("resources %+v", c.Resources)
	}
	if ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.String() != "20%" || ps.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("strategy %+v pull secrets %+v", ds.Spec.UpdateStrategy, ps.ImagePullSecrets)
	}

	if _, err := DaemonSet(&v1alpha1.AxonAgent{}, Options{Namespace: "x"}); err == nil {
		t.Error("no image anywhere: want an error")
	}
}

// The apply body has no status and no nulls (an apply would read a null
// as "remove this field").
func TestApplyObjectHasNoNulls(t *testing.T) {
	a := &v1alpha1.AxonAgent{}
	a.Name = "default"
	ds, err := DaemonSet(a, Options{Namespace: "n", DefaultImage: "i"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := applyObject(ds)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Object["status"]; ok {
		t.Error("status in the apply body")
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case nil:
			t.Errorf("null at %s", path)
		case map[string]any:
			for k, e := range v {
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range v {
				walk(path+"[]", e)
			}
		}
	}
	walk("", u.Object)
}

// The map sizes and compile timeout always reach the agents' command line,
// their defaults included, and the defaults are the agent's own: the
// datapath object's map sizes (halved: each map holds two tables), its flow
// table and agent.CompileTimeout. The webhook judges policies by the same
// fields, so the flag names must be the agent's.
func TestDaemonSetMapSizeArgs(t *testing.T) {
	def, err := datapath.DefaultLimits()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := bpf.LoadAxon()
	if err != nil {
		t.Fatal(err)
	}
	a := &v1alpha1.AxonAgent{}
	a.Name = "default"
	sizes := a.Spec.MapSizes()
	if len(sizes) != len(datapath.LimitFlags) {
		t.Fatalf("AxonAgent has %d map size fields, the agent %d --max-* limit flags", len(sizes), len(datapath.LimitFlags))
	}
	want := []string{
		"--max-flows=" + strconv.Itoa(int(spec.Maps[bpf.AxonMapFlows].MaxEntries)),
		"--compile-timeout=" + agent.CompileTimeout.String(),
	}
	for i, f := range datapath.LimitFlags {
		if sizes[i].Flag != f.Name {
			t.Errorf("field %s sets --%s, want --%s", sizes[i].Field, sizes[i].Flag, f.Name)
		}
		want = append(want, "--"+f.Name+"="+strconv.Itoa(def[f.Map]))
	}
	ds, err := DaemonSet(a, Options{Namespace: "n", DefaultImage: "i"})
	if err != nil {
		t.Fatal(err)
	}
	args := ds.Spec.Template.Spec.Containers[0].Args
	for _, w := range want {
		if !slices.Contains(args, w) {
			t.Errorf("defaults: args %q lack the agent's default %q", args, w)
		}
	}

	a.Spec = v1alpha1.AxonAgentSpec{MaxPathRows: 1500000, MaxSourceClasses: 2500000, MaxPodIPs: 200000, MaxFlows: 1 << 20,
		CompileTimeout: &metav1.Duration{Duration: 10 * time.Minute}}
	ds, err = DaemonSet(a, Options{Namespace: "n", DefaultImage: "i"})
	if err != nil {
		t.Fatal(err)
	}
	args = ds.Spec.Template.Spec.Containers[0].Args
	for _, w := range []string{"--max-path-rows=1500000", "--max-source-classes=2500000", "--max-pod-ips=200000", "--max-flows=1048576", "--compile-timeout=10m0s"} {
		if !slices.Contains(args, w) {
			t.Errorf("args %q lack %q", args, w)
		}
	}
}

// The CRD's default markers are the Go defaults (and so the agent's, above):
// an AxonAgent stored with an empty spec runs the agents with the sizes the
// webhook assumes for it.
func TestCRDDefaultsAreTheAgents(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "crds", "axon.dev_axonagents.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := sigsyaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatal(err)
	}
	props := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties
	want := map[string]int{
		"maxPathRows":      v1alpha1.DefaultMaxPathRows,
		"maxSourceClasses": v1alpha1.DefaultMaxSourceClasses,
		"maxPodIPs":        v1alpha1.DefaultMaxPodIPs,
		"maxFlows":         v1alpha1.DefaultMaxFlows,
	}
	for field, w := range want {
		d := props[field].Default
		if d == nil || string(d.Raw) != strconv.Itoa(w) {
			t.Errorf("CRD default of spec.%s = %v, want %d", field, d, w)
		}
	}
	var timeout string
	if d := props["compileTimeout"].Default; d == nil || json.Unmarshal(d.Raw, &timeout) != nil {
		t.Fatalf("CRD default of spec.compileTimeout = %v, want a duration", d)
	}
	if got, err := time.ParseDuration(timeout); err != nil || got != v1alpha1.DefaultCompileTimeout {
		t.Errorf("CRD default of spec.compileTimeout = %q, want %s", timeout, v1alpha1.DefaultCompileTimeout)
	}
}
