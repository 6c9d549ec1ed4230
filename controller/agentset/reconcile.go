package agentset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// FieldOwner is the server-side apply field manager of the DaemonSet.
const FieldOwner = "axon-controller"

// RBAC of these (scripts/gen-crds.sh writes config/rbac from it).
//
// +kubebuilder:rbac:groups=axon.dev,resources=axonagents,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=axon.dev,resources=axonagents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=axon.dev,resources=axonagents/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,namespace=axon-system,resources=daemonsets,verbs=get;list;watch;create;update;patch;delete

// Reconciler keeps the agent DaemonSet equal to the AxonAgent.
//
// RBAC it needs (config/rbac/role.yaml, from the markers above): read
// axonagents and create the default one; write their status; update
// axonagents/finalizers (to set blockOwnerDeletion); DaemonSets in its
// namespace only.
type Reconciler struct {
	Client  client.Client
	Options Options
}

// CacheOptions restricts the manager's DaemonSet cache to the controller's
// namespace, so that the controller needs no cluster-wide read of
// DaemonSets. Merge it into manager.Options.Cache.ByObject.
func CacheOptions(namespace string) map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&appsv1.DaemonSet{}: {Namespaces: map[string]cache.Config{namespace: {}}},
	}
}

// SetupWithManager registers the reconciler: it runs for changes of the
// AxonAgent's spec and for every change (status included) or deletion of the
// DaemonSet it owns.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Options.Namespace == "" {
		return fmt.Errorf("agentset: no namespace for the agent DaemonSet")
	}
	r.Options = r.Options.withDefaults()
	if r.Options.CreateDefault {
		// A runnable without NeedLeaderElection runs on the leader only.
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			return r.createDefault(ctx, mgr.GetAPIReader())
		})); err != nil {
			return err
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("agentset").
		For(&v1alpha1.AxonAgent{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.DaemonSet{}).
		Complete(r)
}

// createDefault creates AxonAgent "default" when there is none. It runs
// once, when the controller becomes leader: deleting the AxonAgent later
// removes the agents until the controller restarts.
func (r *Reconciler) createDefault(ctx context.Context, reader client.Reader) error {
	var a v1alpha1.AxonAgent
	key := client.ObjectKey{Name: v1alpha1.DefaultAxonAgentName}
	err := reader.Get(ctx, key, &a)
	if !apierrors.IsNotFound(err) {
		if err != nil {
			return fmt.Errorf("reading axonagent %s: %w", key.Name, err)
		}
		return nil
	}
	a = v1alpha1.AxonAgent{ObjectMeta: metav1.ObjectMeta{Name: key.Name}}
	if err := r.Client.Create(ctx, &a); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating axonagent %s: %w", key.Name, err)
	}
	return nil
}

// conflictRetry is how soon a status write refused as a conflict is tried
// again.
const conflictRetry = 100 * time.Millisecond

// Reconcile applies the DaemonSet of the named AxonAgent and copies the
// DaemonSet's rollout into the AxonAgent's status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var a v1alpha1.AxonAgent
	if err := r.Client.Get(ctx, req.NamespacedName, &a); err != nil {
		// Deleted: the garbage collector removes the DaemonSet it owned.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if a.Name != v1alpha1.DefaultAxonAgentName {
		return ctrl.Result{}, nil // the CRD refuses other names
	}
	o := r.Options.withDefaults()
	applyErr := r.apply(ctx, &a, o)
	var ds appsv1.DaemonSet
	var dsp *appsv1.DaemonSet
	if applyErr == nil {
		switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, &ds); {
		case err == nil:
			dsp = &ds
		case !apierrors.IsNotFound(err): // not in the cache yet: its event comes
			return ctrl.Result{}, fmt.Errorf("reading daemonset: %w", err)
		}
	}
	if err := r.writeStatus(ctx, &a, dsp, applyErr); err != nil {
		if apierrors.IsConflict(err) && applyErr == nil {
			// The cache has not seen the last status write (or a spec
			// edit) yet: not an error, try again once it has.
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, applyErr // deleted meanwhile
		}
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, applyErr
}

// apply sends the desired DaemonSet with server-side apply, forcing
// ownership of the fields it sets (a kubectl edit of them is undone).
func (r *Reconciler) apply(ctx context.Context, a *v1alpha1.AxonAgent, o Options) error {
	ds, err := DaemonSet(a, o)
	if err != nil {
		return err
	}
	if err := r.replaceForeign(ctx, a, o); err != nil {
		return err
	}
	u, err := applyObject(ds)
	if err != nil {
		return err
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying daemonset %s/%s: %w", o.Namespace, o.Name, err)
	}
	return nil
}

// replaceForeign deletes a DaemonSet of the same name that another object
// controls (an AxonAgent deleted and created again before the garbage
// collector removed the old one's DaemonSet): an apply would add a second
// controller reference, which the API server refuses.
func (r *Reconciler) replaceForeign(ctx context.Context, a *v1alpha1.AxonAgent, o Options) error {
	var cur appsv1.DaemonSet
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, &cur); err != nil {
		return client.IgnoreNotFound(err)
	}
	ref := metav1.GetControllerOf(&cur)
	if ref == nil || ref.UID == a.UID {
		return nil
	}
	// A stale cache may show a DaemonSet already replaced: the UID
	// precondition then fails with a conflict, and the apply goes on.
	err := r.Client.Delete(ctx, &cur, client.Preconditions{UID: &cur.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting daemonset %s/%s of %s %s: %w", o.Namespace, o.Name, ref.Kind, ref.Name, err)
	}
	return nil
}

// applyObject turns a typed object into the body of an apply request: no
// status and no null fields (a typed object serializes zero timestamps as
// null, which an apply would read as "remove").
func applyObject(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T: %w", obj, err)
	}
	delete(m, "status")
	pruneNulls(m)
	return &unstructured.Unstructured{Object: m}, nil
}

func pruneNulls(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			if m, ok := e.(map[string]any); ok && k == "creationTimestamp" && len(m) == 0 {
				delete(v, k)
				continue
			}
			pruneNulls(e)
		}
	case []any:
		for _, e := range v {
			pruneNulls(e)
		}
	}
}
