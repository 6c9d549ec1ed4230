package policystatus_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
)

const regoHead = "package tenants\n\nimport rego.v1\n\n"

func accepted(status metav1.ConditionStatus, reason string, msg ...string) func(*v1alpha1.L7NetworkPolicy, *metav1.Condition) bool {
	return func(p *v1alpha1.L7NetworkPolicy, c *metav1.Condition) bool {
		if c.Status != status || c.Reason != reason || c.ObservedGeneration != p.Generation {
			return false
		}
		for _, m := range msg {
			if !strings.Contains(c.Message, m) {
				return false
			}
		}
		return true
	}
}

// A policy whose Rego module is in a ConfigMap is re-validated when the
// ConfigMap changes, without the user touching the policy: a module the
// datapath cannot enforce turns Accepted False with its line, the fixed
// module turns it True again, and a deleted ConfigMap is ModuleNotFound.
// The policy's generation never changes.
func TestAcceptedFollowsTheConfigMap(t *testing.T) {
	requireAPI(t)
	ctx := context.Background()
	const ns = "accepted"
	ensureNamespace(t, ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "authz", Namespace: ns},
		Data: map[string]string{"orders.rego": regoHead + "allow if input.method == \"GET\"\n"}}
	create(t, cm)
	p := policy(ns, "rego")
	p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{ConfigMapRef: &v1alpha1.ConfigMapKeyRef{Name: "authz", Key: "orders.rego"}}
	create(t, p)
	key := client.ObjectKeyFromObject(p)
	const wait = 20 * time.Second
	waitCondition(t, key, v1alpha1.ConditionAccepted, wait, "True", accepted(metav1.ConditionTrue, v1alpha1.ReasonCompiled))

	start := time.Now()
	cm.Data["orders.rego"] = regoHead + "allow if {\n\tupper(input.path) == \"/X\"\n}\n"
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, key, v1alpha1.ConditionAccepted, wait, "False with the line", accepted(metav1.ConditionFalse, v1alpha1.ReasonUnsupportedRego,
		"spec.rego.configMapRef", `ConfigMap authz key "orders.rego" line 6`, "upper"))
	t.Logf("ConfigMap broken -> Accepted False in %s: %s", time.Since(start).Round(time.Millisecond),
		got.Status.Conditions[0].Message)
	if got.Generation != 1 {
		t.Errorf("generation %d: the policy was edited", got.Generation)
	}

	start = time.Now()
	cm.Data["orders.rego"] = regoHead + "allow if input.path == \"/x\"\n"
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, key, v1alpha1.ConditionAccepted, wait, "True again", accepted(metav1.ConditionTrue, v1alpha1.ReasonCompiled))
	t.Logf("ConfigMap fixed -> Accepted True in %s", time.Since(start).Round(time.Millisecond))

	if err := k8s.Delete(ctx, cm); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, key, v1alpha1.ConditionAccepted, wait, "ModuleNotFound", accepted(metav1.ConditionFalse, v1alpha1.ReasonModuleNotFound,
		"spec.rego.configMapRef", "authz key orders.rego"))
}

// A policy stored without admission (no webhook here) that does not compile
// is Accepted False with the field path, and True once edited.
func TestAcceptedOnEdit(t *testing.T) {
	requireAPI(t)
	const ns = "accepted-edit"
	ensureNamespace(t, ns)
	p := policy(ns, "glob")
	p.Spec.Rules[0].HTTP[0].Paths = []v1alpha1.PathMatch{{Glob: "/v[12]/*"}}
	create(t, p)
	key := client.ObjectKeyFromObject(p)
	got := waitCondition(t, key, v1alpha1.ConditionAccepted, 20*time.Second, "False", accepted(metav1.ConditionFalse, v1alpha1.ReasonInvalid,
		"spec.rules[0].http[0].paths[0].glob"))
	got.Spec.Rules[0].HTTP[0].Paths[0].Glob = "/v1/*"
	if err := k8s.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, key, v1alpha1.ConditionAccepted, 20*time.Second, "True", accepted(metav1.ConditionTrue, v1alpha1.ReasonCompiled))
}

// Accepted follows the map sizes of AxonAgent default without the user
// touching the policy: a policy that fits the defaults turns False, naming
// spec.maxPathRows, when the AxonAgent lowers it below what the policy
// needs, and True again when it is raised or the AxonAgent is deleted.
func TestAcceptedFollowsAxonAgentMapSizes(t *testing.T) {
	requireAPI(t)
	ctx := context.Background()
	const ns = "accepted-sizes"
	ensureNamespace(t, ns)
	p := policy(ns, "wide")
	paths := make([]v1alpha1.PathMatch, 20)
	for i := range paths {
		paths[i] = v1alpha1.PathMatch{Prefix: fmt.Sprintf("/v1/item%d/", i)}
	}
	p.Spec.Rules[0].HTTP[0].Paths = paths
	create(t, p)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
	key := client.ObjectKeyFromObject(p)
	const wait = 20 * time.Second
	waitCondition(t, key, v1alpha1.ConditionAccepted, wait, "True under the default sizes", accepted(metav1.ConditionTrue, v1alpha1.ReasonCompiled))

	agent := &v1alpha1.AxonAgent{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.DefaultAxonAgentName},
		Spec: v1alpha1.AxonAgentSpec{MaxPathRows: 8}}
	create(t, agent)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), agent) })
	got := waitCondition(t, key, v1alpha1.ConditionAccepted, wait, "False naming spec.maxPathRows",
		accepted(metav1.ConditionFalse, v1alpha1.ReasonTooLarge, "spec.maxPathRows of AxonAgent default is 8 and this policy alone needs"))
	t.Logf("maxPathRows 8 -> %s", meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted).Message)

	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var a v1alpha1.AxonAgent
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(agent), &a); err != nil {
			return err
		}
		a.Spec.MaxPathRows = 100000
		return k8s.Update(ctx, &a)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCondition(t, key, v1alpha1.ConditionAccepted, wait, "True once raised", accepted(metav1.ConditionTrue, v1alpha1.ReasonCompiled))

	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var a v1alpha1.AxonAgent
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(agent), &a); err != nil {
			return err
		}
		a.Spec.MaxPathRows = 8
		return k8s.Update(ctx, &a)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCondition(t, key, v1alpha1.ConditionAccepted, wait, "False again", accepted(metav1.ConditionFalse, v1alpha1.ReasonTooLarge, "spec.maxPathRows"))
	if err := k8s.Delete(ctx, agent); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, key, v1alpha1.ConditionAccepted, wait, "True without an AxonAgent (the controller's default sizes)", accepted(metav1.ConditionTrue, v1alpha1.ReasonCompiled))
}
