package policystatus

import (
	"context"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// indexConfigMap indexes policies by the ConfigMap holding their module
// ("namespace/name").
const indexConfigMap = "axon.spec.rego.configMapRef"

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// Setup registers the policy status reconciler with mgr: it reconciles a
// policy when its spec changes, when a pod of its namespace starts, stops,
// moves or changes labels, when a node record that lists it (or lists
// nothing yet) changes, and when the ConfigMap holding its module changes.
// Heartbeat renewals alone do not reconcile anything: the reconciler
// requeues itself for the moment a heartbeat goes stale.
func Setup(mgr ctrl.Manager) error {
	r := &Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), metrics: registered()}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.L7NetworkPolicy{}, indexConfigMap,
		func(o client.Object) []string {
			p := o.(*v1alpha1.L7NetworkPolicy)
			if rs := p.Spec.Rego; rs != nil && rs.ConfigMapRef != nil {
				return []string{p.Namespace + "/" + rs.ConfigMapRef.Name}
			}
			return nil
		}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("policystatus").
		For(&v1alpha1.L7NetworkPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Pod{}, r.podHandler()).
		Watches(&v1alpha1.AxonNodeStatus{}, r.recordHandler()).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.configMapPolicies)).
		Watches(&v1alpha1.AxonAgent{}, r.agentHandler()).
		Complete(r)
}

// allPolicies enqueues every policy.
func (r *Reconciler) allPolicies(ctx context.Context, q queue) {
	var l v1alpha1.L7NetworkPolicyList
	if err := r.Client.List(ctx, &l, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range l.Items {
		q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&l.Items[i])})
	}
}

// agentHandler enqueues every policy when the map sizes of AxonAgent
// default change (created, deleted, or a size edited): Accepted says
// whether each policy fits the sizes the agents run with.
func (r *Reconciler) agentHandler() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, _ event.CreateEvent, q queue) { r.allPolicies(ctx, q) },
		DeleteFunc: func(ctx context.Context, _ event.DeleteEvent, q queue) { r.allPolicies(ctx, q) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			o, n := e.ObjectOld.(*v1alpha1.AxonAgent), e.ObjectNew.(*v1alpha1.AxonAgent)
			if !slices.Equal(o.Spec.MapSizes(), n.Spec.MapSizes()) {
				r.allPolicies(ctx, q)
			}
		},
	}
}

// configMapPolicies maps a ConfigMap to the policies whose module it holds.
func (r *Reconciler) configMapPolicies(ctx context.Context, o client.Object) []reconcile.Request {
	var l v1alpha1.L7NetworkPolicyList
	if err := r.Client.List(ctx, &l, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{indexConfigMap: o.GetNamespace() + "/" + o.GetName()}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(l.Items))
	for i := range l.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&l.Items[i])})
	}
	return out
}

// podHandler enqueues the policies of a pod's namespace that select it
// (before or after an update), on the changes that can change a policy's
// expected nodes.
func (r *Reconciler) podHandler() handler.EventHandler {
	enqueue := func(ctx context.Context, q queue, pods ...*corev1.Pod) {
		var l v1alpha1.L7NetworkPolicyList
		if err := r.Client.List(ctx, &l, client.InNamespace(pods[0].Namespace), client.UnsafeDisableDeepCopy); err != nil {
			return
		}
		for i := range l.Items {
			sel, err := metav1.LabelSelectorAsSelector(&l.Items[i].Spec.PodSelector)
			if err != nil {
				continue
			}
			for _, p := range pods {
				if sel.Matches(labels.Set(p.Labels)) {
					q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&l.Items[i])})
					break
				}
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) {
			enqueue(ctx, q, e.Object.(*corev1.Pod))
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			o, n := e.ObjectOld.(*corev1.Pod), e.ObjectNew.(*corev1.Pod)
			if podPlacement(o) == podPlacement(n) && maps.Equal(o.Labels, n.Labels) {
				return
			}
			enqueue(ctx, q, o, n)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q queue) {
			if p, ok := e.Object.(*corev1.Pod); ok {
				enqueue(ctx, q, p)
			}
		},
	}
}

// placement is what of a pod decides whether its node is expected.
type placement struct {
	node    string
	phase   corev1.PodPhase
	hostNet bool
	hasIP   bool
}

func podPlacement(p *corev1.Pod) placement {
	return placement{p.Spec.NodeName, p.Status.Phase, p.Spec.HostNetwork, p.Status.PodIP != "" || len(p.Status.PodIPs) > 0}
}

// recordHandler enqueues, on a change of a node record, the policies it
// lists before or after the change. A record created or deleted, whose
// enforcing or message changes, or whose agent comes back after its
// heartbeat went stale, enqueues every policy (any may expect that node).
// An update that only renews the heartbeat enqueues nothing.
func (r *Reconciler) recordHandler() handler.EventHandler {
	all := r.allPolicies
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, _ event.CreateEvent, q queue) { all(ctx, q) },
		DeleteFunc: func(ctx context.Context, _ event.DeleteEvent, q queue) { all(ctx, q) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			o, n := e.ObjectOld.(*v1alpha1.AxonNodeStatus), e.ObjectNew.(*v1alpha1.AxonNodeStatus)
			if !time.Now().Before(staleAt(o)) || o.Status.Enforcing != n.Status.Enforcing || o.Status.Message != n.Status.Message {
				all(ctx, q)
				return
			}
			if equality.Semantic.DeepEqual(o.Status.Policies, n.Status.Policies) {
				return
			}
			keys := map[types.NamespacedName]bool{}
			for _, l := range [][]v1alpha1.NodePolicyStatus{o.Status.Policies, n.Status.Policies} {
				for _, np := range l {
					keys[types.NamespacedName{Namespace: np.Namespace, Name: np.Name}] = true
				}
			}
			for k := range keys {
				q.Add(reconcile.Request{NamespacedName: k})
			}
		},
	}
}
