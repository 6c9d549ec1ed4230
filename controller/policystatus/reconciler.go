package policystatus

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// Reconciler writes the status of L7NetworkPolicy objects.
type Reconciler struct {
	// Client reads policies, pods, node records and ConfigMap metadata from
	// the manager's cache and writes the status subresource.
	Client client.Client
	// APIReader reads the ConfigMaps that hold Rego modules, when their
	// resourceVersion changed.
	APIReader client.Reader
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	validated validated
	metrics   *metrics
}

// RBAC of the controller (scripts/gen-crds.sh writes config/rbac from it).
//
// +kubebuilder:rbac:groups=axon.dev,resources=l7networkpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=axon.dev,resources=l7networkpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=axon.dev,resources=axonnodestatuses,verbs=get;list;watch
// +kubebuilder:rbac:groups=axon.dev,resources=axonagents,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch

// Reconcile computes one policy's status and writes it when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if r.metrics == nil {
		r.metrics = registered()
	}
	var p v1alpha1.L7NetworkPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		if apierrors.IsNotFound(err) {
			r.validated.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading policy: %w", err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	next := p.DeepCopy()
	if err := r.setAccepted(ctx, next); err != nil {
		return ctrl.Result{}, err
	}
	expected, err := r.expectedNodes(ctx, &p)
	if err != nil {
		return ctrl.Result{}, err
	}
	records, err := r.records(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	after := SetEnforced(next, expected, records, now())
	if !equality.Semantic.DeepEqual(p.Status, next.Status) {
		if err := r.Client.Status().Update(ctx, next); err != nil {
			// The validation is redone with the status it goes into.
			r.validated.forget(req.NamespacedName)
			if apierrors.IsConflict(err) {
				// The cache has not seen this controller's last write (or a
				// spec edit) yet: not an error, try again once it has.
				r.metrics.writes.WithLabelValues("conflict").Inc()
				return ctrl.Result{RequeueAfter: conflictRetry}, nil
			}
			if apierrors.IsNotFound(err) {
				// Deleted since the cache read it: no status to write.
				r.metrics.writes.WithLabelValues("gone").Inc()
				return ctrl.Result{}, nil
			}
			r.metrics.writes.WithLabelValues("error").Inc()
			return ctrl.Result{}, fmt.Errorf("writing status: %w", err)
		}
		r.metrics.writes.WithLabelValues("ok").Inc()
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// conflictRetry is how soon a status write refused for a stale
// resourceVersion is tried again.
const conflictRetry = 100 * time.Millisecond

// expectedNodes returns the nodes that run a pod p selects.
func (r *Reconciler) expectedNodes(ctx context.Context, p *v1alpha1.L7NetworkPolicy) ([]string, error) {
	sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
	if err != nil {
		// Admission refuses such a selector; Accepted says so.
		return nil, nil
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(p.Namespace), client.MatchingLabelsSelector{Selector: sel},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	return ExpectedNodes(pods.Items), nil
}

// records returns the node records by node name, read from the cache
// without copies (they are only read).
func (r *Reconciler) records(ctx context.Context) (map[string]*v1alpha1.AxonNodeStatus, error) {
	var l v1alpha1.AxonNodeStatusList
	if err := r.Client.List(ctx, &l, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing node records: %w", err)
	}
	m := make(map[string]*v1alpha1.AxonNodeStatus, len(l.Items))
	for i := range l.Items {
		m[l.Items[i].Name] = &l.Items[i]
	}
	return m, nil
}
