package policystatus

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
)

const (
	// DefaultHeartbeat is the heartbeat interval of a record that gives
	// none (heartbeatSeconds 0).
	DefaultHeartbeat = 30 * time.Second
	// StaleHeartbeats is how many heartbeat intervals without a renewal make
	// a node's record stale ("agent not reporting").
	StaleHeartbeats = 3
	// maxListedNodes caps the nodes the Enforced message names.
	maxListedNodes = 10
)

// ExpectedNodes returns the sorted names of the nodes that run a pod of pods
// the policy polices: running, scheduled, with an IP and not on the host
// network (the pods the compiler makes endpoints of). pods are the pods of
// the policy's namespace that its podSelector selects.
func ExpectedNodes(pods []corev1.Pod) []string {
	var nodes []string
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == "" || p.Spec.HostNetwork ||
			(p.Status.PodIP == "" && len(p.Status.PodIPs) == 0) {
			continue
		}
		nodes = append(nodes, p.Spec.NodeName)
	}
	slices.Sort(nodes)
	return slices.Compact(nodes)
}

// staleAt returns when a record's heartbeat goes stale.
func staleAt(r *v1alpha1.AxonNodeStatus) time.Time {
	hb := DefaultHeartbeat
	if s := r.Status.HeartbeatSeconds; s > 0 {
		hb = time.Duration(s) * time.Second
	}
	return r.Status.HeartbeatTime.Add(StaleHeartbeats * hb)
}

// nodeState says whether the node applies generation gen of the policy
// key ("namespace/name"), and when not, why.
func nodeState(r *v1alpha1.AxonNodeStatus, namespace, name string, gen int64, now time.Time) (applied bool, why string) {
	if r == nil {
		return false, "no AxonNodeStatus record (no agent running?)"
	}
	if !now.Before(staleAt(r)) {
		return false, "agent not reporting (last heartbeat " + r.Status.HeartbeatTime.UTC().Format(time.RFC3339) + ")"
	}
	i := slices.IndexFunc(r.Status.Policies, func(np v1alpha1.NodePolicyStatus) bool {
		return np.Namespace == namespace && np.Name == name
	})
	if i < 0 {
		if r.Status.Message != "" {
			return false, "not applied: " + r.Status.Message
		}
		return false, "not applied yet"
	}
	np := &r.Status.Policies[i]
	switch {
	case np.Error != "":
		return false, "error: " + np.Error
	case np.AppliedGeneration != gen:
		return false, "applies generation " + strconv.FormatInt(np.AppliedGeneration, 10)
	}
	return true, ""
}

// SetEnforced records in p's status the Enforced condition, status.nodes
// and observedGeneration from the nodes that should apply p (expected, from
// ExpectedNodes) and the node records (by node name). It returns how long
// until the status may change without any object changing: the first
// heartbeat of an expected node to go stale (0: none will). A node that does
// not apply the policy counts too: its reason then becomes "agent not
// reporting".
//
// The message is "applied on N of M nodes" followed by each failing node's
// reason; it holds no durations counted from now, so that recomputing it
// without a change writes nothing.
func SetEnforced(p *v1alpha1.L7NetworkPolicy, expected []string, records map[string]*v1alpha1.AxonNodeStatus, now time.Time) time.Duration {
	var applied int
	var failing []string
	var next time.Time
	for _, n := range expected {
		r := records[n]
		if r != nil {
			if at := staleAt(r); now.Before(at) && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
		ok, why := nodeState(r, p.Namespace, p.Name, p.Generation, now)
		if !ok {
			failing = append(failing, n+": "+why)
			continue
		}
		applied++
	}
	c := metav1.Condition{
		Type:               v1alpha1.ConditionEnforced,
		Status:             metav1.ConditionFalse,
		Reason:             v1alpha1.ReasonPending,
		ObservedGeneration: p.Generation,
	}
	c.Message = fmt.Sprintf("applied on %d of %d nodes", applied, len(expected))
	switch {
	case len(expected) == 0:
		c.Reason = v1alpha1.ReasonNoPods
		c.Message += ": the policy selects no running pod"
	case applied == len(expected):
		c.Status, c.Reason = metav1.ConditionTrue, v1alpha1.ReasonApplied
	default:
		shown := failing[:min(len(failing), maxListedNodes)]
		c.Message += "; " + strings.Join(shown, "; ")
		if more := len(failing) - len(shown); more > 0 {
			c.Message += fmt.Sprintf("; and %d more nodes", more)
		}
	}
	if len(c.Message) > maxMessage {
		c.Message = c.Message[:maxMessage-3] + "..."
	}
	meta.SetStatusCondition(&p.Status.Conditions, c)
	p.Status.Nodes = fmt.Sprintf("%d/%d", applied, len(expected))
	p.Status.ObservedGeneration = p.Generation
	if next.IsZero() {
		return 0
	}
	// A second late, so the record is stale when the reconcile runs.
	return next.Sub(now) + time.Second
}

// maxMessage is metav1.Condition's limit on message length.
const maxMessage = 32768
