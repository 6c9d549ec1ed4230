package policystatus

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// Only running, scheduled pods with an IP off the host network make their
// node expected, each node once.
func TestExpectedNodes(t *testing.T) {
	pod := func(node string, phase corev1.PodPhase, ip string, hostNet bool) corev1.Pod {
		return corev1.Pod{Spec: corev1.PodSpec{NodeName: node, HostNetwork: hostNet}, Status: corev1.PodStatus{Phase: phase, PodIP: ip}}
	}
	got := ExpectedNodes([]corev1.Pod{
		pod("b", corev1.PodRunning, "10.95.0.1", false),
		pod("a", corev1.PodRunning, "10.95.0.2", false),
		pod("b", corev1.PodRunning, "10.95.0.3", false),
		pod("c", corev1.PodPending, "", false),
		pod("d", corev1.PodRunning, "", false),
		pod("e", corev1.PodRunning, "192.0.2.1", true),
		pod("f", corev1.PodSucceeded, "10.95.0.4", false),
		pod("", corev1.PodRunning, "10.95.0.5", false),
	})
	if fmt.Sprint(got) != "[a b]" {
		t.Errorf("expected nodes %v, want [a b]", got)
	}
}

// The message names at most ten failing nodes; the requeue is for the first
// expected node whose heartbeat goes stale; records are read at the
// generation asked.
func TestSetEnforced(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := &v1alpha1.L7NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Generation: 3}}
	records := map[string]*v1alpha1.AxonNodeStatus{}
	var expected []string
	for i := range 14 {
		n := fmt.Sprintf("n%02d", i)
		expected = append(expected, n)
		gen := int64(3)
		if i >= 2 {
			gen = 2
		}
		records[n] = &v1alpha1.AxonNodeStatus{Status: v1alpha1.AxonNodeStatusStatus{
			HeartbeatTime:    metav1.NewTime(now.Add(-time.Duration(i) * time.Second)),
			HeartbeatSeconds: 10,
			Policies:         []v1alpha1.NodePolicyStatus{{Namespace: "ns", Name: "p", AppliedGeneration: gen}},
		}}
	}
	after := SetEnforced(p, expected, records, now)
	c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionEnforced)
	if c.Status != metav1.ConditionFalse || p.Status.Nodes != "2/14" || !strings.HasPrefix(c.Message, "applied on 2 of 14 nodes; n02: applies generation 2") ||
		!strings.HasSuffix(c.Message, "n11: applies generation 2; and 2 more nodes") {
		t.Errorf("%s %s: %s", c.Status, p.Status.Nodes, c.Message)
	}
	// n13's heartbeat (13 s old, every 10 s) is the first to go stale, 17 s
	// from now: its reason changes then, although it does not apply.
	if after != 18*time.Second {
		t.Errorf("requeue after %s, want 18s", after)
	}
	// Recomputing later, with nothing changed but the clock, gives the same
	// status (no write).
	before := p.DeepCopy()
	SetEnforced(p, expected, records, now.Add(5*time.Second))
	if fmt.Sprint(before.Status) != fmt.Sprint(p.Status) {
		t.Errorf("status changed with the clock alone:\n%+v\n%+v", before.Status, p.Status)
	}
}
