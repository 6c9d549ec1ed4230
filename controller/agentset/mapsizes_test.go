package agentset_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// lacks returns the entries of want that args lacks.
func lacks(args, want []string) []string {
	var missing []string
	for _, w := range want {
		if !slices.Contains(args, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

// removeAgent deletes a and its DaemonSet (envtest runs no garbage
// collector), so that the next test starts from nothing.
func removeAgent(t *testing.T, a *v1alpha1.AxonAgent) {
	ctx := context.Background()
	_ = k8s.Delete(ctx, a)
	gone := 0
	eventually(t, wait, "no AxonAgent and no DaemonSet", func() error {
		ds, err := getDS(ctx)
		switch {
		case apierrors.IsNotFound(err):
			// Twice in a row: the reconciler may recreate it until its
			// cache sees the AxonAgent gone.
			if gone++; gone == 2 {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
			return fmt.Errorf("checking again")
		case err != nil:
			return err
		}
		gone = 0
		_ = k8s.Delete(ctx, ds)
		return fmt.Errorf("DaemonSet still there")
	})
}

// The map sizes on a real API server: an AxonAgent created without them
// stores the agent's defaults (spec defaults to {}, so even an object with
// no spec gets them) and the DaemonSet passes them to the agents; a change
// of a size changes the pod template (the DaemonSet controller rolls the
// agents, which resize their maps); the CRD refuses sizes out of range, a
// change of maxFlows, and the same flags smuggled in through extraArgs.
func TestAgentSetMapSizes(t *testing.T) {
	requireAPI(t)
	ctx := t.Context()
	a := &v1alpha1.AxonAgent{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if err := k8s.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAgent(t, a) })

	stored, err := getAgent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := stored.Spec
	if s.MaxPathRows != v1alpha1.DefaultMaxPathRows || s.MaxSourceClasses != v1alpha1.DefaultMaxSourceClasses ||
		s.MaxPodIPs != v1alpha1.DefaultMaxPodIPs || s.MaxFlows != v1alpha1.DefaultMaxFlows ||
		s.CompileTimeout == nil || s.CompileTimeout.Duration != v1alpha1.DefaultCompileTimeout {
		t.Errorf("stored spec %+v, want the defaults filled in", s)
	}
	defaults := []string{"--max-path-rows=131072", "--max-source-classes=131072", "--max-pod-ips=65536", "--max-flows=65536", "--compile-timeout=1m0s"}
	var generation int64
	eventually(t, wait, "DaemonSet with the default sizes", func() error {
		ds, err := getDS(ctx)
		if err != nil {
			return err
		}
		if ref := metav1.GetControllerOf(ds); ref == nil || ref.UID != stored.UID {
			return fmt.Errorf("DaemonSet of another AxonAgent (%+v)", ref)
		}
		if m := lacks(agentContainer(ds).Args, defaults); len(m) > 0 {
			return fmt.Errorf("args %q lack %q", agentContainer(ds).Args, m)
		}
		generation = ds.Generation
		return nil
	})

	updateAgent(t, ctx, func(a *v1alpha1.AxonAgent) {
		a.Spec.MaxPathRows = 1500000
		a.Spec.MaxSourceClasses = 2500000
		a.Spec.MaxPodIPs = 200000
		a.Spec.CompileTimeout = &metav1.Duration{Duration: 10 * time.Minute}
	})
	raised := []string{"--max-path-rows=1500000", "--max-source-classes=2500000", "--max-pod-ips=200000", "--max-flows=65536", "--compile-timeout=10m0s"}
	eventually(t, wait, "DaemonSet with the raised sizes", func() error {
		ds, err := getDS(ctx)
		if err != nil {
			return err
		}
		args := agentContainer(ds).Args
		if m := lacks(args, raised); len(m) > 0 {
			return fmt.Errorf("args %q lack %q", args, m)
		}
		if slices.Contains(args, "--max-path-rows=131072") {
			return fmt.Errorf("args %q keep the old --max-path-rows", args)
		}
		if ds.Generation <= generation {
			return fmt.Errorf("generation %d, was %d: the agents would not roll", ds.Generation, generation)
		}
		return nil
	})

	refused := []struct {
		name   string
		change func(*v1alpha1.AxonAgent)
		want   string
	}{
		{"negative path rows", func(a *v1alpha1.AxonAgent) { a.Spec.MaxPathRows = -1 }, "spec.maxPathRows"},
		{"more path rows than the agent takes", func(a *v1alpha1.AxonAgent) { a.Spec.MaxPathRows = 1<<26 + 1 }, "spec.maxPathRows"},
		{"a classes map the kernel refuses", func(a *v1alpha1.AxonAgent) { a.Spec.MaxSourceClasses = 1<<26 + 1 }, "spec.maxSourceClasses"},
		{"a pod_ips map the kernel refuses", func(a *v1alpha1.AxonAgent) { a.Spec.MaxPodIPs = 1<<26 + 1 }, "spec.maxPodIPs"},
		{"a new flow table size", func(a *v1alpha1.AxonAgent) { a.Spec.MaxFlows = 1 << 20 }, "maxFlows cannot change"},
		{"no compile time", func(a *v1alpha1.AxonAgent) { a.Spec.CompileTimeout = &metav1.Duration{} }, "compileTimeout must be positive"},
		{"a size in extraArgs", func(a *v1alpha1.AxonAgent) { a.Spec.ExtraArgs = []string{"--event-rate=10", "--max-path-rows=9"} }, "not extraArgs"},
		{"a size in extraArgs, single dash, value apart", func(a *v1alpha1.AxonAgent) { a.Spec.ExtraArgs = []string{"-max-flows", "9"} }, "not extraArgs"},
		{"a timeout in extraArgs", func(a *v1alpha1.AxonAgent) { a.Spec.ExtraArgs = []string{"--compile-timeout=1h"} }, "not extraArgs"},
	}
	for _, c := range refused {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := getAgent(ctx)
			if err != nil {
				return err
			}
			c.change(cur)
			return k8s.Update(ctx, cur)
		})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want Invalid naming %q", c.name, err, c.want)
		}
	}
	// Flags without a field stay allowed in extraArgs.
	updateAgent(t, ctx, func(a *v1alpha1.AxonAgent) { a.Spec.ExtraArgs = []string{"--event-rate=500", "--max-flowsx"} })

	// maxFlows is chosen when the AxonAgent is created.
	if err := k8s.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "AxonAgent deleted", func() error {
		if _, err := getAgent(ctx); !apierrors.IsNotFound(err) {
			return fmt.Errorf("get: %v", err)
		}
		return nil
	})
	a = &v1alpha1.AxonAgent{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v1alpha1.AxonAgentSpec{MaxFlows: 1 << 20}}
	if err := k8s.Create(ctx, a); err != nil {
		t.Fatalf("creating with maxFlows %d: %v", 1<<20, err)
	}
	eventually(t, wait, "DaemonSet with the new flow table", func() error {
		ds, err := getDS(ctx)
		if err != nil {
			return err
		}
		if m := lacks(agentContainer(ds).Args, []string{"--max-flows=1048576", "--max-path-rows=131072"}); len(m) > 0 {
			return fmt.Errorf("args %q lack %q", agentContainer(ds).Args, m)
		}
		return nil
	})
}
