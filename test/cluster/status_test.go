package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// wantStatus is what the controller must write in a policy's status, for
// the policy's current generation.
type wantStatus struct {
	policy   string // the policy's name; "api" when empty
	accepted string // the Accepted reason; Compiled (True) when empty
	enforced metav1.ConditionStatus
	nodes    string   // status.nodes, "N/M"
	contains []string // in the Enforced message
	lacks    []string // not in the Enforced message
}

// waitPolicyStatus waits until the status of the namespace's policy (want.policy,
// "api" by default), read from the API server, is what the controller writes
// for its current generation: Accepted (True unless want.accepted says
// otherwise), Enforced and status.nodes as wanted, observedGeneration the
// generation. It returns how long it waited.
func waitPolicyStatus(t *testing.T, ns string, within time.Duration, want wantStatus) time.Duration {
	t.Helper()
	start := time.Now()
	if want.policy == "" {
		want.policy = "api"
	}
	if want.accepted == "" {
		want.accepted = v1alpha1.ReasonCompiled
	}
	waitFor(t, within, fmt.Sprintf("policy %s's status to say Accepted=%s Enforced=%s %s", want.policy, want.accepted, want.enforced, want.nodes), func() (bool, string) {
		var p v1alpha1.L7NetworkPolicy
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: want.policy}, &p); err != nil {
			return false, err.Error()
		}
		return statusIs(&p, want), fmt.Sprintf("generation %d, status %+v", p.Generation, p.Status)
	})
	return time.Since(start)
}

func statusIs(p *v1alpha1.L7NetworkPolicy, want wantStatus) bool {
	a := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionAccepted)
	e := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionEnforced)
	acc := metav1.ConditionFalse
	if want.accepted == v1alpha1.ReasonCompiled {
		acc = metav1.ConditionTrue
	}
	if a == nil || e == nil || a.Status != acc || a.Reason != want.accepted ||
		a.ObservedGeneration != p.Generation || e.ObservedGeneration != p.Generation ||
		p.Status.ObservedGeneration != p.Generation || e.Status != want.enforced || p.Status.Nodes != want.nodes {
		return false
	}
	reason := v1alpha1.ReasonPending
	if want.enforced == metav1.ConditionTrue {
		reason = v1alpha1.ReasonApplied
	}
	if e.Reason != reason {
		return false
	}
	for _, s := range want.contains {
		if !strings.Contains(e.Message, s) {
			return false
		}
	}
	for _, s := range want.lacks {
		if strings.Contains(e.Message, s) {
			return false
		}
	}
	return true
}

// enforcedAll is the status of a policy every expected node applies.
func enforcedAll(nodes int) wantStatus {
	return wantStatus{enforced: metav1.ConditionTrue, nodes: fmt.Sprintf("%d/%d", nodes, nodes),
		contains: []string{fmt.Sprintf("applied on %d of %d nodes", nodes, nodes)}}
}
