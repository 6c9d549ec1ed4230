package policystatus_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/axon-dev/axon/api/v1alpha1"
)

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// create creates obj, retrying while the API server settles after the CRD
// install (a 429 or 404 right after it).
func create(t *testing.T, obj client.Object) {
	t.Helper()
	var err error
	for range 40 {
		err = k8s.Create(context.Background(), obj)
		if !apierrors.IsTooManyRequests(err) && !apierrors.IsNotFound(err) && !apierrors.IsServiceUnavailable(err) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

// runningPod creates a pod on node and gives it the status the kubelet
// would: Running, with an IP.
func runningPod(t *testing.T, ns, name, node, ip string, labels map[string]string) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	create(t, p)
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if err := k8s.Status().Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func policy(ns, name string) *v1alpha1.L7NetworkPolicy {
	return &v1alpha1.L7NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.L7NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
			Ports:       []v1alpha1.PortSpec{{Port: 8080}},
			Rules: []v1alpha1.Rule{{
				HTTP: []v1alpha1.HTTPRule{{Methods: []string{"GET"}, Paths: []v1alpha1.PathMatch{{Prefix: "/api"}}}},
			}},
		},
	}
}

// waitCondition waits until the policy's condition of type typ satisfies
// ok, and returns the policy then.
func waitCondition(t *testing.T, key client.ObjectKey, typ string, timeout time.Duration, what string,
	ok func(p *v1alpha1.L7NetworkPolicy, c *metav1.Condition) bool) *v1alpha1.L7NetworkPolicy {
	t.Helper()
	var p v1alpha1.L7NetworkPolicy
	var c *metav1.Condition
	deadline := time.Now().Add(timeout)
	for {
		if err := k8s.Get(context.Background(), key, &p); err != nil {
			t.Fatal(err)
		}
		c = meta.FindStatusCondition(p.Status.Conditions, typ)
		if c != nil && ok(&p, c) {
			return &p
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s is not %s: %+v (nodes %q, observedGeneration %d, generation %d)",
				timeout, typ, what, c, p.Status.Nodes, p.Status.ObservedGeneration, p.Generation)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fakeAgent writes one node's AxonNodeStatus as the node's agent does: it
// creates the record, then renews heartbeatTime every interval/2 and writes
// the policies it is told it applies.
type fakeAgent struct {
	t        *testing.T
	node     string
	mu       sync.Mutex
	policies []v1alpha1.NodePolicyStatus
	stop     chan struct{}
	done     chan struct{}
}

const heartbeatSeconds = 1

func startAgent(t *testing.T, node string, policies ...v1alpha1.NodePolicyStatus) *fakeAgent {
	a := &fakeAgent{t: t, node: node, policies: policies}
	rec := &v1alpha1.AxonNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(rec), rec); apierrors.IsNotFound(err) {
		create(t, rec)
	}
	a.write()
	a.resume()
	t.Cleanup(a.pause)
	return a
}

// set replaces what the agent applies and writes it at once.
func (a *fakeAgent) set(policies ...v1alpha1.NodePolicyStatus) {
	a.mu.Lock()
	a.policies = policies
	a.mu.Unlock()
	a.write()
}

func (a *fakeAgent) write() {
	ctx := context.Background()
	for range 10 {
		var rec v1alpha1.AxonNodeStatus
		if err := k8s.Get(ctx, client.ObjectKey{Name: a.node}, &rec); err != nil {
			a.t.Error(err)
			return
		}
		a.mu.Lock()
		rec.Status = v1alpha1.AxonNodeStatusStatus{
			HeartbeatTime:    metav1.Now(),
			HeartbeatSeconds: heartbeatSeconds,
			AgentVersion:     "test",
			Enforcing:        true,
			PolicyCount:      int32(len(a.policies)),
			Policies:         append([]v1alpha1.NodePolicyStatus(nil), a.policies...),
		}
		a.mu.Unlock()
		err := k8s.Status().Update(ctx, &rec)
		if !apierrors.IsConflict(err) {
			if err != nil {
				a.t.Error(err)
			}
			return
		}
	}
}

// pause stops the heartbeats, as a dead agent does.
func (a *fakeAgent) pause() {
	if a.stop == nil {
		return
	}
	close(a.stop)
	<-a.done
	a.stop = nil
}

func (a *fakeAgent) resume() {
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		tick := time.NewTicker(heartbeatSeconds * time.Second / 2)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				a.write()
			}
		}
	}(a.stop, a.done)
}

func applied(ns, name string, gen int64) v1alpha1.NodePolicyStatus {
	return v1alpha1.NodePolicyStatus{Namespace: ns, Name: name, AppliedGeneration: gen}
}

func enforced(status metav1.ConditionStatus, nodes string, msg ...string) func(*v1alpha1.L7NetworkPolicy, *metav1.Condition) bool {
	return func(p *v1alpha1.L7NetworkPolicy, c *metav1.Condition) bool {
		if c.Status != status || p.Status.Nodes != nodes || c.ObservedGeneration != p.Generation || p.Status.ObservedGeneration != p.Generation {
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

// The Enforced condition follows the nodes that run the selected pods, from
// the AxonNodeStatus records their agents write: 0/2 with both nodes' reasons,
// 1/2 naming the node that failed and why (no record, an error, a stale
// heartbeat), 2/2 True; a spec edit makes it False until the nodes apply
// the new generation; and a steady state writes nothing.
func TestEnforced(t *testing.T) {
	requireAPI(t)
	const ns = "enforced"
	ensureNamespace(t, ns)
	orders := map[string]string{"app": "orders"}
	runningPod(t, ns, "orders-a", "node-a", "10.95.0.1", orders)
	runningPod(t, ns, "orders-b1", "node-b", "10.95.0.2", orders)
	runningPod(t, ns, "orders-b2", "node-b", "10.95.0.3", orders)
	runningPod(t, ns, "web-c", "node-c", "10.95.0.4", map[string]string{"app": "web"}) // not selected
	p := policy(ns, "orders")
	create(t, p)
	key := client.ObjectKeyFromObject(p)
	const wait = 20 * time.Second

	got := waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "0/2 with both reasons", enforced(metav1.ConditionFalse, "0/2",
		"applied on 0 of 2 nodes", "node-a: no AxonNodeStatus record", "node-b: no AxonNodeStatus record"))
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Accepted: %+v", c)
	}
	if strings.Contains(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionEnforced).Message, "node-c") {
		t.Error("node-c runs no selected pod but is expected")
	}

	a := startAgent(t, "node-a", applied(ns, "orders", 1))
	waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "1/2 (node-b has no record)", enforced(metav1.ConditionFalse, "1/2",
		"applied on 1 of 2 nodes; node-b: no AxonNodeStatus record"))

	b := startAgent(t, "node-b", v1alpha1.NodePolicyStatus{Namespace: ns, Name: "orders", Error: "compiling: module not found"})
	waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "1/2 (node-b's error)", enforced(metav1.ConditionFalse, "1/2",
		"node-b: error: compiling: module not found"))

	b.set(applied(ns, "orders", 1))
	got = waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "True 2/2", enforced(metav1.ConditionTrue, "2/2", "applied on 2 of 2 nodes"))
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionEnforced); c.Reason != v1alpha1.ReasonApplied {
		t.Errorf("reason %s", c.Reason)
	}

	// Steady state: the agents keep renewing their heartbeats (every 0.5 s)
	// and the controller keeps requeueing for staleness, but the status is
	// not written again.
	// Nor is it reconciled on each renewal (16 in this window): only when
	// the first heartbeat could go stale.
	rv := got.ResourceVersion
	before := reconciles(t)
	time.Sleep(4 * heartbeatSeconds * time.Second)
	if err := k8s.Get(context.Background(), key, got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != rv {
		t.Errorf("the policy was written in a steady state: resourceVersion %s -> %s (status %+v)", rv, got.ResourceVersion, got.Status)
	}
	if n := reconciles(t) - before; n > 5 {
		t.Errorf("%v reconciles in 4 s of heartbeat renewals (2 agents every 0.5 s)", n)
	} else {
		t.Logf("%v reconciles in 4 s of heartbeat renewals (2 agents every 0.5 s)", n)
	}

	// node-b's agent stops reporting: after three heartbeat intervals its
	// node counts as not applying.
	b.pause()
	stopped := time.Now()
	waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "1/2 (node-b not reporting)", enforced(metav1.ConditionFalse, "1/2",
		"node-b: agent not reporting (last heartbeat"))
	t.Logf("stale heartbeat seen %s after the last renewal (staleness after %d s)", time.Since(stopped).Round(100*time.Millisecond), 3*heartbeatSeconds)
	b.resume()
	waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "True 2/2 again", enforced(metav1.ConditionTrue, "2/2"))

	// A spec edit is a new generation: not enforced until both nodes apply it.
	if err := k8s.Get(context.Background(), key, got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Rules[0].HTTP[0].Paths = append(got.Spec.Rules[0].HTTP[0].Paths, v1alpha1.PathMatch{Exact: "/healthz"})
	if err := k8s.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if got.Generation != 2 {
		t.Fatalf("generation %d after the edit", got.Generation)
	}
	waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "0/2 for generation 2", enforced(metav1.ConditionFalse, "0/2",
		"node-a: applies generation 1", "node-b: applies generation 1"))
	a.set(applied(ns, "orders", 2))
	waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "1/2 for generation 2", enforced(metav1.ConditionFalse, "1/2",
		"node-b: applies generation 1"))
	b.set(applied(ns, "orders", 2))
	waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "True 2/2 for generation 2", enforced(metav1.ConditionTrue, "2/2"))

	// The pods of node-b go away: node-b is no longer expected.
	for _, name := range []string{"orders-b1", "orders-b2"} {
		if err := k8s.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}},
			client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
	}
	waitCondition(t, key, v1alpha1.ConditionEnforced, wait, "True 1/1", enforced(metav1.ConditionTrue, "1/1"))
}

// A policy that selects no running pod is not Enforced (NoPods): nothing
// applies it, which is also what a selector with a typo gives.
func TestEnforcedNoPods(t *testing.T) {
	requireAPI(t)
	ensureNamespace(t, "nopods")
	p := policy("nopods", "typo")
	p.Spec.PodSelector.MatchLabels = map[string]string{"app": "ordres"}
	create(t, p)
	got := waitCondition(t, client.ObjectKeyFromObject(p), v1alpha1.ConditionEnforced, 20*time.Second, "0/0",
		enforced(metav1.ConditionFalse, "0/0", "applied on 0 of 0 nodes: the policy selects no running pod"))
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionEnforced); c.Reason != v1alpha1.ReasonNoPods {
		t.Errorf("reason %s", c.Reason)
	}
}

// reconciles returns controller_runtime_reconcile_total of the policystatus
// controller, all results.
func reconciles(t *testing.T) float64 {
	t.Helper()
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "controller" && l.GetValue() == "policystatus" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
