package agentset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// Status computes the AxonAgent status for a DaemonSet (nil: not there yet)
// and the error of the last apply (nil: it succeeded). Conditions keep their
// lastTransitionTime from old when their status does not change.
func Status(old v1alpha1.AxonAgentStatus, generation int64, ds *appsv1.DaemonSet, applyErr error) v1alpha1.AxonAgentStatus {
	st := v1alpha1.AxonAgentStatus{Conditions: append([]metav1.Condition(nil), old.Conditions...)}
	set := func(typ string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: generation,
		})
	}
	if applyErr != nil {
		// Keep reporting the DaemonSet as last seen; say why it is not
		// following the configuration.
		st.ObservedGeneration = old.ObservedGeneration
		st.DaemonSet, st.Image = old.DaemonSet, old.Image
		st.DesiredNumberScheduled, st.NumberReady = old.DesiredNumberScheduled, old.NumberReady
		st.UpdatedNumberScheduled, st.NumberAvailable = old.UpdatedNumberScheduled, old.NumberAvailable
		set(v1alpha1.AgentDegraded, metav1.ConditionTrue, "ApplyFailed", truncate(applyErr.Error(), 1024))
		if meta.FindStatusCondition(st.Conditions, v1alpha1.AgentAvailable) == nil {
			set(v1alpha1.AgentAvailable, metav1.ConditionFalse, "ApplyFailed", "the agent DaemonSet could not be applied")
		}
		return st
	}
	st.ObservedGeneration = generation
	set(v1alpha1.AgentDegraded, metav1.ConditionFalse, "Applied", "the agent DaemonSet matches this configuration")
	if ds == nil {
		set(v1alpha1.AgentAvailable, metav1.ConditionFalse, "Creating", "the agent DaemonSet is being created")
		set(v1alpha1.AgentProgressing, metav1.ConditionTrue, "Creating", "the agent DaemonSet is being created")
		return st
	}
	s := ds.Status
	st.DaemonSet = ds.Namespace + "/" + ds.Name
	for _, c := range ds.Spec.Template.Spec.Containers {
		if c.Name == ContainerName {
			st.Image = c.Image
		}
	}
	st.DesiredNumberScheduled, st.NumberReady = s.DesiredNumberScheduled, s.NumberReady
	st.UpdatedNumberScheduled, st.NumberAvailable = s.UpdatedNumberScheduled, s.NumberAvailable

	seen := s.ObservedGeneration >= ds.Generation
	switch {
	case !seen:
		set(v1alpha1.AgentProgressing, metav1.ConditionTrue, "RollingOut", "the DaemonSet controller has not seen the new configuration yet")
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		set(v1alpha1.AgentProgressing, metav1.ConditionTrue, "RollingOut",
			fmt.Sprintf("%d of %d agents run the current configuration", s.UpdatedNumberScheduled, s.DesiredNumberScheduled))
	case s.NumberAvailable < s.DesiredNumberScheduled:
		set(v1alpha1.AgentProgressing, metav1.ConditionTrue, "Starting",
			fmt.Sprintf("%d of %d agents available", s.NumberAvailable, s.DesiredNumberScheduled))
	default:
		set(v1alpha1.AgentProgressing, metav1.ConditionFalse, "RolledOut",
			fmt.Sprintf("%d of %d agents run the current configuration", s.UpdatedNumberScheduled, s.DesiredNumberScheduled))
	}
	switch {
	case !seen:
		set(v1alpha1.AgentAvailable, metav1.ConditionFalse, "RollingOut", "waiting for the DaemonSet controller")
	case s.DesiredNumberScheduled == 0:
		set(v1alpha1.AgentAvailable, metav1.ConditionFalse, "NoNodes", "no node matches the agent's nodeSelector and tolerations: no pod is policed")
	case s.NumberAvailable < s.DesiredNumberScheduled || s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		set(v1alpha1.AgentAvailable, metav1.ConditionFalse, "AgentsNotReady",
			fmt.Sprintf("%d of %d agents available, %d up to date; a node without a ready agent keeps its last policies but follows no change",
				s.NumberAvailable, s.DesiredNumberScheduled, s.UpdatedNumberScheduled))
	default:
		set(v1alpha1.AgentAvailable, metav1.ConditionTrue, "AllAgentsReady",
			fmt.Sprintf("%d of %d agents available and up to date", s.NumberAvailable, s.DesiredNumberScheduled))
	}
	return st
}

// writeStatus stores the new status when it differs from the stored one
// (no write when nothing changed).
func (r *Reconciler) writeStatus(ctx context.Context, a *v1alpha1.AxonAgent, ds *appsv1.DaemonSet, applyErr error) error {
	st := Status(a.Status, a.Generation, ds, applyErr)
	if equality.Semantic.DeepEqual(st, a.Status) {
		return nil
	}
	base := a.DeepCopy()
	a.Status = st
	if err := r.Client.Status().Patch(ctx, a, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing axonagent status: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
