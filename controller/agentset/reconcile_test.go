package agentset_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/controller/agentset"
)

const wait = 10 * time.Second

var dsKey = types.NamespacedName{Namespace: namespace, Name: "axon-agent"}

func getDS(ctx context.Context) (*appsv1.DaemonSet, error) {
	var ds appsv1.DaemonSet
	err := k8s.Get(ctx, dsKey, &ds)
	return &ds, err
}

func getAgent(ctx context.Context) (*v1alpha1.AxonAgent, error) {
	var a v1alpha1.AxonAgent
	err := k8s.Get(ctx, types.NamespacedName{Name: "default"}, &a)
	return &a, err
}

func agentContainer(ds *appsv1.DaemonSet) corev1.Container {
	for _, c := range ds.Spec.Template.Spec.Containers {
		if c.Name == agentset.ContainerName {
			return c
		}
	}
	return corev1.Container{}
}

// condition returns "Status/Reason: message" of a condition, or "absent".
func condition(a *v1alpha1.AxonAgent, typ string) string {
	c := meta.FindStatusCondition(a.Status.Conditions, typ)
	if c == nil {
		return "absent"
	}
	return fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message)
}

// updateAgent changes the AxonAgent's spec, retrying when the controller's
// status write got in between.
func updateAgent(t *testing.T, ctx context.Context, change func(*v1alpha1.AxonAgent)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		a, err := getAgent(ctx)
		if err != nil {
			return err
		}
		change(a)
		return k8s.Update(ctx, a)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setDSStatus plays the DaemonSet controller (envtest runs none): it writes
// the rollout numbers the kube-controller-manager would.
func setDSStatus(t *testing.T, ctx context.Context, desired, updated, available int32) {
	t.Helper()
	// The reconciler may write the DaemonSet meanwhile: retry on conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ds, err := getDS(ctx)
		if err != nil {
			return err
		}
		ds.Status = appsv1.DaemonSetStatus{
			ObservedGeneration:     ds.Generation,
			DesiredNumberScheduled: desired, CurrentNumberScheduled: desired,
			UpdatedNumberScheduled: updated, NumberReady: available, NumberAvailable: available,
			NumberUnavailable: desired - available,
		}
		return k8s.Status().Update(ctx, ds)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The operator's whole life on a real API server: the AxonAgent creates the
// DaemonSet; the DaemonSet's rollout shows in the AxonAgent's status; a
// configuration change changes the pod template (which is what makes the
// DaemonSet controller roll the agents); a hand edit is undone; a deleted
// DaemonSet comes back; a DaemonSet the API server refuses turns Degraded.
func TestAgentSetLifecycle(t *testing.T) {
	requireAPI(t)
	ctx := t.Context()

	agent := &v1alpha1.AxonAgent{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
		Spec: v1alpha1.AxonAgentSpec{
			NodeSelector: map[string]string{"pool": "web"},
			MetricsPort:  9191,
		},
	}
	if err := k8s.Create(ctx, agent); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), agent) })

	t.Run("creates the DaemonSet", func(t *testing.T) {
		var ds *appsv1.DaemonSet
		eventually(t, wait, "daemonset created", func() (err error) { ds, err = getDS(ctx); return err })
		if ref := metav1.GetControllerOf(ds); ref == nil || ref.Kind != "AxonAgent" || ref.UID != agent.UID {
			t.Errorf("controller reference = %+v, want the AxonAgent %s", ref, agent.UID)
		}
		c := agentContainer(ds)
		if c.Image != defaultImage {
			t.Errorf("image = %q, want the controller's default %q", c.Image, defaultImage)
		}
		for _, arg := range []string{"--in-cluster", "--metrics-addr=0.0.0.0:9191", "--log-level=info", "--log-format=json", "--attach-mode=auto", "--pin-dir=/sys/fs/bpf/axon", "--observe=true"} {
			if !slices.Contains(c.Args, arg) {
				t.Errorf("args %q lack %q", c.Args, arg)
			}
		}
		if len(c.Ports) != 1 || c.Ports[0].HostPort != 9191 {
			t.Errorf("ports = %+v, want host port 9191", c.Ports)
		}
		ps := ds.Spec.Template.Spec
		if !ps.HostNetwork || !ps.HostPID {
			t.Errorf("hostNetwork=%v hostPID=%v, want both", ps.HostNetwork, ps.HostPID)
		}
		if ps.NodeSelector["pool"] != "web" || ps.NodeSelector["kubernetes.io/os"] != "linux" {
			t.Errorf("nodeSelector = %v", ps.NodeSelector)
		}
		if len(ps.Tolerations) != 1 || ps.Tolerations[0].Operator != corev1.TolerationOpExists {
			t.Errorf("tolerations = %+v, want tolerate-all by default", ps.Tolerations)
		}
		sc := c.SecurityContext
		if sc == nil || sc.Privileged == nil || *sc.Privileged || !slices.Contains(sc.Capabilities.Add, "BPF") || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("security context = %+v, want unprivileged with added capabilities and ALL dropped", sc)
		}
		mounts := map[string]string{}
		for _, m := range c.VolumeMounts {
			mounts[m.Name] = m.MountPath
		}
		if mounts["bpffs"] != "/sys/fs/bpf" || mounts["cgroup"] != "/sys/fs/cgroup" {
			t.Errorf("mounts = %v, want bpffs and cgroup", mounts)
		}
		eventually(t, wait, "status says the rollout waits for the DaemonSet controller", func() error {
			a, err := getAgent(ctx)
			if err != nil {
				return err
			}
			if a.Status.ObservedGeneration != a.Generation || a.Status.DaemonSet != "axon-system/axon-agent" || a.Status.Image != defaultImage {
				return fmt.Errorf("status = %+v", a.Status)
			}
			if got := condition(a, v1alpha1.AgentAvailable); !strings.HasPrefix(got, "False/RollingOut") {
				return fmt.Errorf("Available = %s", got)
			}
			if got := condition(a, v1alpha1.AgentDegraded); !strings.HasPrefix(got, "False/") {
				return fmt.Errorf("Degraded = %s", got)
			}
			return nil
		})
	})

	t.Run("status follows the DaemonSet", func(t *testing.T) {
		setDSStatus(t, ctx, 3, 3, 2)
		eventually(t, wait, "2 of 3 available", func() error {
			a, err := getAgent(ctx)
			if err != nil {
				return err
			}
			if a.Status.DesiredNumberScheduled != 3 || a.Status.NumberAvailable != 2 {
				return fmt.Errorf("status = %+v", a.Status)
			}
			if got := condition(a, v1alpha1.AgentAvailable); !strings.HasPrefix(got, "False/AgentsNotReady: 2 of 3") {
				return fmt.Errorf("Available = %s", got)
			}
			if got := condition(a, v1alpha1.AgentProgressing); !strings.HasPrefix(got, "True/Starting") {
				return fmt.Errorf("Progressing = %s", got)
			}
			return nil
		})
		setDSStatus(t, ctx, 3, 3, 3)
		eventually(t, wait, "3 of 3 available", func() error {
			a, err := getAgent(ctx)
			if err != nil {
				return err
			}
			if got := condition(a, v1alpha1.AgentAvailable); got != "True/AllAgentsReady: 3 of 3 agents available and up to date" {
				return fmt.Errorf("Available = %s", got)
			}
			if got := condition(a, v1alpha1.AgentProgressing); !strings.HasPrefix(got, "False/RolledOut") {
				return fmt.Errorf("Progressing = %s", got)
			}
			return nil
		})
	})

	t.Run("a configuration change rolls the pod template", func(t *testing.T) {
		before, err := getDS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		updateAgent(t, ctx, func(a *v1alpha1.AxonAgent) {
			a.Spec.Image = "ghcr.io/axon-dev/axon-agent:v2"
			a.Spec.LogLevel = "debug"
			a.Spec.NodeSelector = nil // a field the controller stops setting is removed
			a.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "edge", Effect: corev1.TaintEffectNoSchedule}}
		})
		eventually(t, wait, "new pod template", func() error {
			ds, err := getDS(ctx)
			if err != nil {
				return err
			}
			c := agentContainer(ds)
			if c.Image != "ghcr.io/axon-dev/axon-agent:v2" || !slices.Contains(c.Args, "--log-level=debug") || slices.Contains(c.Args, "--log-level=info") {
				return fmt.Errorf("image %s args %q", c.Image, c.Args)
			}
			ps := ds.Spec.Template.Spec
			if _, ok := ps.NodeSelector["pool"]; ok {
				return fmt.Errorf("nodeSelector still %v", ps.NodeSelector)
			}
			if len(ps.Tolerations) != 1 || ps.Tolerations[0].Key != "dedicated" {
				return fmt.Errorf("tolerations %+v", ps.Tolerations)
			}
			if ds.Generation <= before.Generation {
				return fmt.Errorf("generation %d, was %d: the DaemonSet controller would not roll", ds.Generation, before.Generation)
			}
			if ds.UID != before.UID {
				return fmt.Errorf("DaemonSet replaced (uid %s, was %s), not updated", ds.UID, before.UID)
			}
			return nil
		})
		eventually(t, wait, "status says rolling out", func() error {
			a, err := getAgent(ctx)
			if err != nil {
				return err
			}
			if a.Status.ObservedGeneration != a.Generation || a.Status.Image != "ghcr.io/axon-dev/axon-agent:v2" {
				return fmt.Errorf("status = %+v", a.Status)
			}
			if got := condition(a, v1alpha1.AgentProgressing); !strings.HasPrefix(got, "True/RollingOut") {
				return fmt.Errorf("Progressing = %s", got)
			}
			return nil
		})
		setDSStatus(t, ctx, 3, 1, 3)
		eventually(t, wait, "1 of 3 updated", func() error {
			a, err := getAgent(ctx)
			if err != nil {
				return err
			}
			if got := condition(a, v1alpha1.AgentProgressing); got != "True/RollingOut: 1 of 3 agents run the current configuration" {
				return fmt.Errorf("Progressing = %s", got)
			}
			return nil
		})
	})

	t.Run("an unchanged configuration writes nothing", func(t *testing.T) {
		before, err := getDS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a, err := getAgent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// An annotation bumps no generation; force a reconcile through the
		// DaemonSet instead: a label on it.
		base := before.DeepCopy()
		before.Labels["touched"] = "yes"
		if err := k8s.Patch(ctx, before, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		after, err := getDS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("DaemonSet written again (resourceVersion %s -> %s, generation %d -> %d) without a change",
				before.ResourceVersion, after.ResourceVersion, before.Generation, after.Generation)
		}
		a2, err := getAgent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a2.ResourceVersion != a.ResourceVersion {
			t.Errorf("AxonAgent written (resourceVersion %s -> %s) without a change", a.ResourceVersion, a2.ResourceVersion)
		}
	})

	t.Run("a hand edit of the template is undone", func(t *testing.T) {
		ds, err := getDS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"agent","image":"evil/agent:latest"}]}}}}`)
		if err := k8s.Patch(ctx, ds, client.RawPatch(types.StrategicMergePatchType, patch), client.FieldOwner("kubectl-edit")); err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, "image restored", func() error {
			ds, err := getDS(ctx)
			if err != nil {
				return err
			}
			if got := agentContainer(ds).Image; got != "ghcr.io/axon-dev/axon-agent:v2" {
				return fmt.Errorf("image %s", got)
			}
			return nil
		})
	})

	t.Run("a deleted DaemonSet is recreated", func(t *testing.T) {
		old, err := getDS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := k8s.Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, "daemonset recreated", func() error {
			ds, err := getDS(ctx)
			if err != nil {
				return err
			}
			if ds.UID == old.UID {
				return fmt.Errorf("still the old DaemonSet")
			}
			if got := agentContainer(ds).Image; got != "ghcr.io/axon-dev/axon-agent:v2" {
				return fmt.Errorf("image %s", got)
			}
			return nil
		})
	})

	t.Run("a DaemonSet the API server refuses is Degraded", func(t *testing.T) {
		updateAgent(t, ctx, func(a *v1alpha1.AxonAgent) { a.Spec.PriorityClassName = "Not_A_Name" })
		eventually(t, wait, "Degraded", func() error {
			a, err := getAgent(ctx)
			if err != nil {
				return err
			}
			if got := condition(a, v1alpha1.AgentDegraded); !strings.HasPrefix(got, "True/ApplyFailed") || !strings.Contains(got, "priorityClassName") {
				return fmt.Errorf("Degraded = %s", got)
			}
			if a.Status.ObservedGeneration == a.Generation {
				return fmt.Errorf("observedGeneration %d claims the refused generation", a.Status.ObservedGeneration)
			}
			return nil
		})
		ds, err := getDS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Spec.Template.Spec.PriorityClassName != "system-node-critical" {
			t.Errorf("priorityClassName %q: the refused change reached the DaemonSet", ds.Spec.Template.Spec.PriorityClassName)
		}
		updateAgent(t, ctx, func(a *v1alpha1.AxonAgent) { a.Spec.PriorityClassName = "system-node-critical" })
		eventually(t, wait, "no longer Degraded", func() error {
			a, err := getAgent(ctx)
			if err != nil {
				return err
			}
			if got := condition(a, v1alpha1.AgentDegraded); !strings.HasPrefix(got, "False/") || a.Status.ObservedGeneration != a.Generation {
				return fmt.Errorf("Degraded = %s, observedGeneration %d of %d", got, a.Status.ObservedGeneration, a.Generation)
			}
			return nil
		})
	})
}

// There is one AxonAgent: the CRD refuses any other name.
func TestAxonAgentNameIsDefault(t *testing.T) {
	requireAPI(t)
	err := k8s.Create(t.Context(), &v1alpha1.AxonAgent{ObjectMeta: metav1.ObjectMeta{Name: "second"}})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "named default") {
		t.Fatalf("creating AxonAgent/second: %v, want Invalid 'named default'", err)
	}
}
