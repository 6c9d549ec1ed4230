package deploy_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var (
	installOnce sync.Once
	installErr  error
)

// install applies deploy/ and deploy/monitoring (with stand-ins for the
// Prometheus Operator's CRDs) to the API server once, as `kubectl apply
// --server-side -k` would: CRDs first, then everything else.
func install(t *testing.T) {
	t.Helper()
	requireAPI(t)
	installOnce.Do(func() {
		objs := append(render(t, "."), render(t, "monitoring")...)
		objs = append(objs, render(t, "cleanup")...)
		extra, err := readYAML("testdata/monitoring-crds.yaml")
		if err != nil {
			installErr = err
			return
		}
		installErr = applyAll(t.Context(), append(extra, objs...))
	})
	if installErr != nil {
		t.Fatal(installErr)
	}
}

func readYAML(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

func applyOne(ctx context.Context, u *unstructured.Unstructured) error {
	if err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
		return fmt.Errorf("the API server refuses %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

func applyAll(ctx context.Context, objs []*unstructured.Unstructured) error {
	var crds []string
	for _, u := range objs {
		if u.GetKind() == "CustomResourceDefinition" {
			if err := applyOne(ctx, u); err != nil {
				return err
			}
			crds = append(crds, u.GetName())
		}
	}
	for _, name := range crds {
		if err := waitEstablished(ctx, name); err != nil {
			return err
		}
	}
	// Namespaces before what lives in them.
	for _, first := range []bool{true, false} {
		for _, u := range objs {
			if u.GetKind() == "CustomResourceDefinition" || (u.GetKind() == "Namespace") != first {
				continue
			}
			var err error
			for try := 0; try < 20; try++ { // a fresh CRD's REST mapping can lag
				if err = applyOne(ctx, u); err == nil {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, &crd); err == nil {
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CRD %s not established", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The API server accepts every object of deploy/, deploy/monitoring and
// deploy/cleanup, and they are all there afterwards.
func TestApplyToARealAPIServer(t *testing.T) {
	install(t)
	objs := append(render(t, "."), render(t, "monitoring")...)
	objs = append(objs, render(t, "cleanup")...)
	for _, want := range objs {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(want.GroupVersionKind())
		if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(want), got); err != nil {
			t.Errorf("%s %s/%s after apply: %v", want.GetKind(), want.GetNamespace(), want.GetName(), err)
		}
	}
	t.Logf("%d objects applied", len(objs))
}
