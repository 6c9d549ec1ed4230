package policystatus

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/webhook"
)

// validated remembers, per policy, what its Accepted condition was computed
// from, so that a reconcile that changes neither (a pod moved, a node
// record changed) does not compile the policy again.
type validated struct {
	mu   sync.Mutex
	seen map[types.NamespacedName]validatedKey
}

// validatedKey is what Accepted depends on: the generation and, for a
// module in a ConfigMap, the ConfigMap's resourceVersion ("" when it does
// not exist).
type validatedKey struct {
	generation      int64
	resourceVersion string
	limits          string // AxonAgent default's map sizes ("" without one)
}

func (v *validated) get(k types.NamespacedName) (validatedKey, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vk, ok := v.seen[k]
	return vk, ok
}

func (v *validated) set(k types.NamespacedName, vk validatedKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[types.NamespacedName]validatedKey{}
	}
	v.seen[k] = vk
}

func (v *validated) forget(k types.NamespacedName) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.seen, k)
}

// setAccepted re-validates p with the webhook's function
// (webhook.ValidateL7NetworkPolicy, the one code path of admission and
// `axon policy compile`) when its generation, the ConfigMap holding its
// module or the map sizes of AxonAgent default changed since the last time,
// and records the Accepted condition.
// The ConfigMap's resourceVersion comes from the metadata-only cache; its
// data is read from the API server (apiReader) only when it changed, so the
// controller holds no copy of every ConfigMap of the cluster. A configMapRef
// to a key that does not exist is Accepted False (ModuleNotFound): the
// admission webhook admits it with a warning, but nothing can be enforced
// until the module exists.
func (r *Reconciler) setAccepted(ctx context.Context, p *v1alpha1.L7NetworkPolicy) error {
	vk := validatedKey{generation: p.Generation}
	rs := p.Spec.Rego
	if rs != nil && rs.ConfigMapRef != nil {
		cm := &metav1.PartialObjectMetadata{}
		cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: rs.ConfigMapRef.Name}, cm)
		switch {
		case err == nil:
			vk.resourceVersion = cm.ResourceVersion
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("reading ConfigMap %s/%s: %w", p.Namespace, rs.ConfigMapRef.Name, err)
		}
	}
	// The map sizes the agents run with, from the cache (AxonAgent changes
	// enqueue every policy: Setup).
	lim, err := webhook.AgentLimits(ctx, r.Client)
	if err != nil {
		return err
	}
	if lim.Agent != nil {
		vk.limits = fmt.Sprint(lim.Agent.MapSizes())
	}
	key := client.ObjectKeyFromObject(p)
	c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionAccepted)
	if last, ok := r.validated.get(key); ok && last == vk && c != nil && c.ObservedGeneration == p.Generation {
		return nil
	}
	modules, err := webhook.PolicyModules(ctx, r.APIReader, p)
	if err != nil {
		return err
	}
	r.metrics.validations.Inc()
	if _, ok := modules[moduleKey(p)]; rs != nil && rs.ConfigMapRef != nil && !ok {
		webhook.SetAccepted(p, field.ErrorList{field.NotFound(field.NewPath("spec", "rego", "configMapRef"),
			fmt.Sprintf("ConfigMap %s key %s", rs.ConfigMapRef.Name, rs.ConfigMapRef.Key))})
		meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionAccepted).Reason = v1alpha1.ReasonModuleNotFound
	} else {
		errs, _ := webhook.ValidateL7NetworkPolicy(ctx, p, modules, lim)
		webhook.SetAccepted(p, errs)
	}
	r.validated.set(key, vk)
	return nil
}

// moduleKey is the webhook.Modules key of p's ConfigMap module ("" without
// one).
func moduleKey(p *v1alpha1.L7NetworkPolicy) string {
	rs := p.Spec.Rego
	if rs == nil || rs.ConfigMapRef == nil {
		return ""
	}
	return compiler.ConfigMapModuleKey(p.Namespace, rs.ConfigMapRef.Name, rs.ConfigMapRef.Key)
}
