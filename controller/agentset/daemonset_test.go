package agentset

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/axon-dev/axon/api/v1alpha1"
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
