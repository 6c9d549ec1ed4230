package cluster

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
)

func testPod(ns, name, node, ip string, l map[string]string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

func testPolicy(ns, name string, gen int64, app string) v1alpha1.L7NetworkPolicy {
	return v1alpha1.L7NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: gen},
		Spec: v1alpha1.L7NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Ports:       []v1alpha1.PortSpec{{Port: 8080}},
		},
	}
}

func objects(gen int64) source.Objects {
	hostNet := testPod("shop", "host", "n1", "192.0.2.1", map[string]string{"app": "db"})
	hostNet.Spec.HostNetwork = true
	done := testPod("shop", "done", "n1", "10.0.0.9", map[string]string{"app": "db"})
	done.Status.Phase = corev1.PodSucceeded
	return source.Objects{
		Pods: []corev1.Pod{
			testPod("shop", "api-1", "n1", "10.0.0.1", map[string]string{"app": "api"}),
			testPod("shop", "web-2", "n2", "10.0.1.1", map[string]string{"app": "web"}),
			hostNet, done,
		},
		Policies: []v1alpha1.L7NetworkPolicy{
			testPolicy("shop", "web", 1, "web"),   // selects a pod of n2 only
			testPolicy("shop", "api", gen, "api"), // selects api-1 on n1
			testPolicy("shop", "db", 1, "db"),     // only a host-network and a finished pod
			testPolicy("jobs", "api", 1, "api"),   // another namespace
		},
	}
}

func testSource(t *testing.T) *Source {
	t.Helper()
	return &Source{cfg: Config{NodeName: "n1", Heartbeat: 30 * time.Second, AgentVersion: "v1.2.3"},
		log: slog.New(slog.DiscardHandler), statusKick: make(chan struct{}, 1)}
}

// A node lists the policies that select one of its own pods (not those of
// other nodes, of host-network or finished pods, or of other namespaces),
// and its pods' IPs.
func TestSnapshotSelectsLocalPods(t *testing.T) {
	s := testSource(t)
	snap := s.snapshotOf(objects(3))
	if len(snap.local) != 1 || snap.local[0].String() != "shop/api" {
		t.Errorf("local policies = %v, want [shop/api]", snap.local)
	}
	if want := []netip.Addr{netip.MustParseAddr("10.0.0.1")}; !slices.Equal(snap.localIPs, want) {
		t.Errorf("local IPs = %v, want %v", snap.localIPs, want)
	}
	if len(snap.gens) != 4 {
		t.Errorf("generations of %d policies, want 4", len(snap.gens))
	}
}

// The status says the generation in the maps; a failed load names the
// policies whose newest generation is not applied and why, and keeps the
// applied generation.
func TestStatusAppliedAndFailed(t *testing.T) {
	s := testSource(t)
	ready := errors.New("no policy set applied yet")
	s.readiness = func() error { return ready }

	if st := s.status(); st.Enforcing || len(st.Policies) != 0 || st.HeartbeatSeconds != 30 || st.AgentVersion != "v1.2.3" {
		t.Errorf("before any load: %+v", st)
	}

	ready = nil
	t1 := &compiler.Table{}
	s.seen = s.snapshotOf(objects(3))
	s.compiledT, s.compiledS = t1, s.seen
	s.Result(t1, nil)
	st := s.status()
	want := []v1alpha1.NodePolicyStatus{{Namespace: "shop", Name: "api", AppliedGeneration: 3}}
	if !st.Enforcing || !slices.Equal(st.Policies, want) || st.PolicyCount != 1 || st.Message != "" {
		t.Errorf("applied: %+v", st)
	}

	// Generation 4 does not compile: 3 stays applied, with the reason.
	s.seen = s.snapshotOf(objects(4))
	s.Result(nil, errors.New("policy shop/api: bad glob"))
	st = s.status()
	if len(st.Policies) != 1 || st.Policies[0].AppliedGeneration != 3 || !strings.Contains(st.Policies[0].Error, "bad glob") ||
		!strings.Contains(st.Message, "bad glob") || !st.Enforcing {
		t.Errorf("failed load: %+v", st)
	}

	// An older table acknowledged late does not count as the newer one.
	s.Result(&compiler.Table{}, nil)
	if st := s.status(); st.Policies[0].AppliedGeneration != 3 {
		t.Errorf("a table that is not the last compiled one changed the applied generation: %+v", st)
	}

	ready = errors.New("veth1 ingress: programs not attached")
	if st := s.status(); st.Enforcing || !strings.Contains(st.Message, "not attached") {
		t.Errorf("not ready: %+v", st)
	}
}

// Status writes and resyncs do not reload; what a policy set is made of does.
func TestRelevantChanges(t *testing.T) {
	p := testPolicy("shop", "api", 1, "api")
	statusOnly := p.DeepCopy()
	statusOnly.Status.Nodes = "2/2"
	statusOnly.ResourceVersion = "7"
	specChange := p.DeepCopy()
	specChange.Generation = 2
	if relevant(&p, statusOnly) {
		t.Error("a policy status write counts as a change")
	}
	if !relevant(&p, specChange) {
		t.Error("a new policy generation does not count as a change")
	}
	pod := testPod("shop", "a", "n1", "10.0.0.1", map[string]string{"app": "api"})
	stripped, _ := stripPod(&pod)
	cond := pod.DeepCopy()
	cond.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	cond.ResourceVersion = "9"
	strippedCond, _ := stripPod(cond)
	if relevant(stripped, strippedCond) {
		t.Error("a pod condition change counts as a change")
	}
	relabelled := pod.DeepCopy()
	relabelled.Labels = map[string]string{"app": "web"}
	strippedRelabelled, _ := stripPod(relabelled)
	if !relevant(stripped, strippedRelabelled) {
		t.Error("a pod relabelled does not count as a change")
	}
	if sp := stripped.(*corev1.Pod); sp.Spec.NodeName != "n1" || sp.Status.PodIP != "10.0.0.1" || sp.Labels["app"] != "api" {
		t.Errorf("stripping lost a field the agent reads: %+v", sp)
	}
}

// Refusals from the API server (no CRD, no permission) are not outages.
func TestAnsweredErrors(t *testing.T) {
	gr := schema.GroupResource{Group: "axon.dev", Resource: "axonnodestatuses"}
	if !answered(apierrors.NewForbidden(gr, "n1", errors.New("rbac"))) || !answered(apierrors.NewNotFound(gr, "n1")) {
		t.Error("a refusal counts as the API server unreachable")
	}
	if answered(errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")) {
		t.Error("a connection failure counts as an answer")
	}
}
