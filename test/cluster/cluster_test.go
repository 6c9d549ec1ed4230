package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/controller/policystatus"
)

// enforceWithin is how soon a policy change must be enforced on every node.
const enforceWithin = 2 * time.Second

// heartbeat is the agents' --heartbeat: short, so that a stopped agent's
// record visibly goes stale within the test.
const heartbeat = 2 * time.Second

func labels(app string) map[string]string { return map[string]string{"app": app} }

// apiPolicy protects the app=api pods' port 8080: GET /api/ from the pods of
// the apps allowed, everything else denied.
func apiPolicy(namespace string, allowed ...string) *v1alpha1.L7NetworkPolicy {
	p := &v1alpha1.L7NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "api"},
		Spec: v1alpha1.L7NetworkPolicySpec{
			PodSelector:   metav1.LabelSelector{MatchLabels: labels("api")},
			Ports:         []v1alpha1.PortSpec{{Port: 8080}},
			Mode:          v1alpha1.ModeEnforce,
			DefaultAction: v1alpha1.ActionDeny,
		},
	}
	p.Spec.Rules = []v1alpha1.Rule{{
		Action: v1alpha1.ActionAllow,
		From: []v1alpha1.Peer{{PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: allowed}}}}},
		HTTP: []v1alpha1.HTTPRule{{Methods: []string{"GET"}, Paths: []v1alpha1.PathMatch{{Prefix: "/api/"}}}},
	}}
	return p
}

// The agents of two nodes, in cluster mode on a real API server, enforce
// what the API server holds: a policy is enforced on both nodes within 2 s
// of its creation, an edit changes verdicts, relabelling a client changes
// its verdicts on the other node, a new pod is attached and policed without
// a restart (and detached when it goes), each node reports the generation
// it applies in its AxonNodeStatus, both keep enforcing while the API
// server is down and catch up when it returns, and deleting the policy
// restores traffic.
func TestTwoNodes(t *testing.T) {
	require(t)
	top := t
	ctx := context.Background()
	ns := "shop-" + randomID()
	createNamespace(t, ns)

	n1 := newNode(t, "node-1-"+ns[5:], "10.96.1.0/24")
	n2 := newNode(t, "node-2-"+ns[5:], "10.96.2.0/24")
	linkNodes(t, n1, n2)
	web := n1.addPod(t, ns, "web-1", "10.96.1.10", labels("web"))
	api1 := n1.addPod(t, ns, "api-1", "10.96.1.20", labels("api"))
	bot := n2.addPod(t, ns, "bot-2", "10.96.2.10", labels("bot"))
	api2 := n2.addPod(t, ns, "api-2", "10.96.2.20", labels("api"))
	s1, s2 := api1.Serve(t, 8080), api2.Serve(t, 8080)

	start := time.Now()
	ctl := startController(t, ns)
	n1.startAgent(t, t)
	n2.startAgent(t, t)
	for _, p := range []*pod{web, api1, bot, api2} {
		waitAttached(t, p, 10*time.Second)
	}
	t.Logf("both agents ready and attached in front of their pods in %v", time.Since(start).Round(time.Millisecond))

	// No policy: everything passes, across nodes too.
	waitVerdicts(t, 5*time.Second,
		probe{web, s2, "/admin", allow}, probe{bot, s1, "/admin", allow}, probe{web, s1, "/admin", allow})

	t.Run("create", func(t *testing.T) {
		pol := apiPolicy(ns, "web")
		if err := k8s.Create(ctx, pol); err != nil {
			t.Fatal(err)
		}
		probes := []probe{
			{web, s2, "/api/orders", allow}, // across nodes
			{web, s1, "/api/orders", allow}, // same node
			{web, s2, "/admin", deny},
			{web, s1, "/admin", deny},
			{bot, s1, "/api/orders", deny}, // across nodes
			{bot, s2, "/api/orders", deny}, // same node
		}
		d := waitVerdicts(t, 10*time.Second, probes...)
		t.Logf("policy enforced on both nodes %v after its creation", d.Round(time.Millisecond))
		if d > enforceWithin {
			t.Errorf("enforced on both nodes after %v, want within %v", d, enforceWithin)
		}
		checkVerdicts(t, 3, probes...)
		waitNodeStatus(t, ns, 1, 5*time.Second, n1, n2)
		// The controller: the policy compiles, and both nodes apply it.
		d = waitPolicyStatus(t, ns, 10*time.Second, enforcedAll(2))
		t.Logf("status Accepted=True Enforced=True 2/2 %v after both node records listed the policy", d.Round(time.Millisecond))
	})

	t.Run("edit", func(t *testing.T) {
		updatePolicy(t, ns, func(p *v1alpha1.L7NetworkPolicy) { p.Spec = apiPolicy(ns, "web", "bot").Spec })
		probes := []probe{
			{bot, s1, "/api/orders", allow}, {bot, s2, "/api/orders", allow},
			{web, s2, "/api/orders", allow}, {web, s2, "/admin", deny}, {bot, s1, "/admin", deny},
		}
		d := waitVerdicts(t, 10*time.Second, probes...)
		t.Logf("edit enforced on both nodes %v after the update", d.Round(time.Millisecond))
		if d > enforceWithin {
			t.Errorf("edit enforced after %v, want within %v", d, enforceWithin)
		}
		checkVerdicts(t, 2, probes...)
		waitNodeStatus(t, ns, 2, 5*time.Second, n1, n2)
		waitPolicyStatus(t, ns, 5*time.Second, enforcedAll(2))
	})

	t.Run("relabel client", func(t *testing.T) {
		setLabels(t, web.obj, labels("intruder"))
		d := waitVerdicts(t, 10*time.Second, probe{web, s2, "/api/orders", deny}, probe{web, s1, "/api/orders", deny})
		t.Logf("relabelled client denied on the other node after %v", d.Round(time.Millisecond))
		if d > enforceWithin {
			t.Errorf("relabelling took %v to change verdicts, want within %v", d, enforceWithin)
		}
		checkVerdicts(t, 2, probe{web, s2, "/api/orders", deny}, probe{bot, s2, "/api/orders", allow})
		setLabels(t, web.obj, labels("web"))
		waitVerdicts(t, 10*time.Second, probe{web, s2, "/api/orders", allow}, probe{web, s1, "/api/orders", allow})
	})

	t.Run("new pod", func(t *testing.T) {
		pid := n2.agent.Pid()
		api3 := n2.addNetns(t, "api-3", "10.96.2.21")
		s3 := api3.Serve(t, 8080)
		// Before its object exists the pod is nobody's endpoint.
		waitVerdicts(t, 5*time.Second, probe{web, s3, "/admin", allow})
		api3.obj = createPod(t, ns, "api-3", n2.name, "10.96.2.21", labels("api"))
		probes := []probe{{web, s3, "/admin", deny}, {bot, s3, "/admin", deny}, {web, s3, "/api/orders", allow}}
		d := waitVerdicts(t, 10*time.Second, probes...)
		t.Logf("new pod on node 2 attached and policed %v after its object was created", d.Round(time.Millisecond))
		if d > enforceWithin {
			t.Errorf("new pod policed after %v, want within %v", d, enforceWithin)
		}
		checkVerdicts(t, 2, probes...)
		waitAttached(t, api3, time.Second)
		if n2.agent.Pid() != pid || n2.agent.Exited() {
			t.Fatal("the agent of node 2 restarted")
		}

		// The pod goes: its interface is detached.
		if err := k8s.Delete(ctx, api3.obj, deleteNow()); err != nil {
			t.Fatal(err)
		}
		waitDetached(t, api3, 5*time.Second)
		waitVerdicts(t, 5*time.Second, probe{web, s3, "/admin", allow})
	})

	t.Run("pod without interface", func(t *testing.T) {
		// A pod of node 2 whose IP no interface there holds cannot be
		// policed: the agent says so (readiness, AxonNodeStatus) instead of
		// claiming to enforce, and recovers when the pod goes.
		ghost := createPod(t, ns, "ghost", n2.name, "10.96.2.99", labels("api"))
		waitFor(t, 5*time.Second, n2.name+" to report the pod it cannot police", func() (bool, string) {
			code, body, err := n2.agent.Get("/readyz")
			st, serr := nodeStatus(n2.name)
			if err != nil || serr != nil {
				return false, fmt.Sprint(err, serr)
			}
			return code == 503 && strings.Contains(body, "no interface found") && !st.Status.Enforcing &&
				strings.Contains(st.Status.Message, "no interface found"), fmt.Sprintf("%d %s %+v", code, body, st.Status)
		})
		checkVerdicts(t, 1, probe{bot, s2, "/admin", deny}, probe{web, s2, "/api/orders", allow})
		// The policy selects the pod node 2 cannot police: it is not
		// enforced there, whatever generation node 2 has in its maps.
		waitPolicyStatus(t, ns, 5*time.Second, wantStatus{enforced: metav1.ConditionFalse, nodes: "1/2",
			contains: []string{"applied on 1 of 2 nodes", n2.name + ": not enforcing: ", "no interface found"}, lacks: []string{n1.name}})
		if err := k8s.Delete(ctx, ghost, deleteNow()); err != nil {
			t.Fatal(err)
		}
		waitNodeStatus(t, ns, 2, 5*time.Second, n2)
		waitPolicyStatus(t, ns, 5*time.Second, enforcedAll(2))
	})

	t.Run("pod drops its address", func(t *testing.T) {
		// A pod that removes its own address from its interface must not
		// get its attachment removed (and so be unpoliced once it adds the
		// address back): the interface it had stays attached while it
		// exists. The agent looks again at the next reload.
		restored := false
		restore := func() {
			if !restored {
				restored = true
				mustIP(t, "-n", api2.NS, "addr", "add", "10.96.2.20/24", "dev", "eth0")
				mustIP(t, "-n", api2.NS, "route", "add", "default", "via", "10.96.2.1")
			}
		}
		t.Cleanup(restore)
		mustIP(t, "-n", api2.NS, "addr", "flush", "dev", "eth0")
		applied := logCount(n2, "policy applied")
		setLabels(t, bot.obj, map[string]string{"app": "bot", "reload": "1"})
		waitLogMore(t, n2, "policy applied", applied, 5*time.Second)
		time.Sleep(2 * time.Second) // a few rounds of the attachment checker
		if v := n2.agent.Metric("axon_attached", map[string]string{"interface": api2.veth}); v != 2 {
			t.Errorf("axon_attached{interface=%s} = %v after the pod dropped its address, want 2 (kept)", api2.veth, v)
		}
		if strings.Contains(n2.agent.Logs.String(), "detaching\" interface="+api2.veth) {
			t.Errorf("the agent detached %s after its pod dropped its address", api2.veth)
		}
		restore()
		waitFor(t, 5*time.Second, n2.name+" to be ready again", func() (bool, string) {
			code, body, err := n2.agent.Get("/readyz")
			return err == nil && code == 200, fmt.Sprint(code, body, err)
		})
		checkVerdicts(t, 2, probe{web, s2, "/admin", deny}, probe{bot, s2, "/api/orders", allow})
	})

	t.Run("broken policy", func(t *testing.T) {
		// A policy whose Rego module is in a ConfigMap that does not exist
		// yet fails the whole load on both nodes: the table in force stays,
		// and each AxonNodeStatus says which policy is not applied and why.
		// The ConfigMap's creation fixes it.
		secret := probe{web, s2, "/api/secret", allow}
		rp := &v1alpha1.L7NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rego"},
			Spec: v1alpha1.L7NetworkPolicySpec{
				PodSelector:   metav1.LabelSelector{MatchLabels: labels("api")},
				Ports:         []v1alpha1.PortSpec{{Port: 8080}},
				Mode:          v1alpha1.ModeEnforce,
				DefaultAction: v1alpha1.ActionAllow,
				Rego:          &v1alpha1.RegoSource{ConfigMapRef: &v1alpha1.ConfigMapKeyRef{Name: "rules", Key: "secret.rego"}},
			},
		}
		if err := k8s.Create(ctx, rp); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*node{n1, n2} {
			waitFor(t, 5*time.Second, n.name+"'s AxonNodeStatus to report the broken policy", func() (bool, string) {
				st, err := nodeStatus(n.name)
				if err != nil {
					return false, err.Error()
				}
				s := st.Status
				ok := s.Enforcing && s.PolicyCount == 2 && len(s.Policies) == 2 &&
					s.Policies[0].Name == "api" && s.Policies[0].AppliedGeneration == 2 && s.Policies[0].Error == "" &&
					s.Policies[1].Name == "rego" && s.Policies[1].AppliedGeneration == 0 &&
					strings.Contains(s.Policies[1].Error, "configMapRef") && strings.Contains(s.Message, "configMapRef")
				return ok, fmt.Sprintf("%+v", s)
			})
		}
		checkVerdicts(t, 2, secret, probe{bot, s1, "/admin", deny})
		// The controller: the policy is not accepted (its module does not
		// exist) and not enforced, with each node's error; "api" still is.
		waitPolicyStatus(t, ns, 5*time.Second, wantStatus{policy: "rego", accepted: v1alpha1.ReasonModuleNotFound,
			enforced: metav1.ConditionFalse, nodes: "0/2", contains: []string{"applied on 0 of 2 nodes",
				n1.name + ": error: ", n2.name + ": error: ", "configMapRef"}})
		waitPolicyStatus(t, ns, 5*time.Second, enforcedAll(2))

		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rules"}, Data: map[string]string{
			"secret.rego": "package axon.cluster.secret\n\nimport rego.v1\n\ndeny if input.path == \"/api/secret\"\n"}}
		if err := k8s.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
		secret.want = deny
		d := waitVerdicts(t, 10*time.Second, secret, probe{bot, s1, "/api/secret", deny}, probe{web, s1, "/api/orders", allow})
		t.Logf("the ConfigMap's module enforced on both nodes %v after its creation", d.Round(time.Millisecond))
		for _, n := range []*node{n1, n2} {
			waitFor(t, 5*time.Second, n.name+"'s AxonNodeStatus to report both policies applied", func() (bool, string) {
				st, err := nodeStatus(n.name)
				if err != nil {
					return false, err.Error()
				}
				s := st.Status
				return s.PolicyCount == 2 && s.Policies[1].AppliedGeneration == 1 && s.Policies[1].Error == "" && s.Message == "",
					fmt.Sprintf("%+v", s)
			})
		}
		waitPolicyStatus(t, ns, 5*time.Second, wantStatus{policy: "rego", enforced: metav1.ConditionTrue, nodes: "2/2"})

		if err := k8s.Delete(ctx, rp); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Delete(ctx, cm); err != nil {
			t.Fatal(err)
		}
		secret.want = allow
		waitVerdicts(t, 10*time.Second, secret)
		waitNodeStatus(t, ns, 2, 5*time.Second, n1, n2)
	})

	t.Run("agent stopped", func(t *testing.T) {
		// An agent that stops leaves its programs enforcing, and its
		// AxonNodeStatus stops being renewed: the controller counts a node
		// whose heartbeat is three intervals old as not reporting, and the
		// policy's status says so, naming the node.
		stopped := time.Now()
		n1.agent.Stop()
		probes := []probe{{bot, s1, "/admin", deny}, {web, s1, "/api/orders", allow}, {bot, s1, "/api/orders", allow}}
		checkVerdicts(t, 2, probes...)
		st1, err := nodeStatus(n1.name)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := nodeStatus(n2.name)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 4*heartbeat, n2.name+"'s heartbeat to be renewed", func() (bool, string) {
			now, err := nodeStatus(n2.name)
			if err != nil {
				return false, err.Error()
			}
			return now.Status.HeartbeatTime.After(st2.Status.HeartbeatTime.Time), now.Status.HeartbeatTime.String()
		})
		stale := wantStatus{enforced: metav1.ConditionFalse, nodes: "1/2",
			contains: []string{"applied on 1 of 2 nodes", n1.name + ": agent not reporting (last heartbeat "}, lacks: []string{n2.name}}
		waitPolicyStatus(t, ns, (policystatus.StaleHeartbeats+3)*heartbeat, stale)
		t.Logf("status Enforced=False 1/2 naming %s %v after its agent stopped (stale after %d heartbeats of %v)",
			n1.name, time.Since(stopped).Round(time.Millisecond), policystatus.StaleHeartbeats, heartbeat)
		if now, err := nodeStatus(n1.name); err != nil || !now.Status.HeartbeatTime.Equal(&st1.Status.HeartbeatTime) {
			t.Errorf("the stopped agent's heartbeat moved: %v -> %v (%v)", st1.Status.HeartbeatTime, now.Status.HeartbeatTime, err)
		}
		checkVerdicts(t, 1, probes...)
		// Started again, it adopts its pinned programs and reports again.
		restarted := time.Now()
		n1.startAgent(top, t)
		checkVerdicts(t, 2, probes...)
		waitFor(t, 4*heartbeat, n1.name+"'s heartbeat to be renewed", func() (bool, string) {
			now, err := nodeStatus(n1.name)
			if err != nil {
				return false, err.Error()
			}
			return now.Status.HeartbeatTime.After(st1.Status.HeartbeatTime.Time), now.Status.HeartbeatTime.String()
		})
		waitNodeStatus(t, ns, 2, 5*time.Second, n1, n2)
		waitPolicyStatus(t, ns, 5*time.Second, enforcedAll(2))
		t.Logf("status back to Enforced=True 2/2 %v after the agent was started again", time.Since(restarted).Round(time.Millisecond))
	})

	t.Run("api unreachable", func(t *testing.T) {
		// Both nodes lose the API server while the policy changes: they keep
		// enforcing the table in force, and apply the change once they reach
		// the API server again.
		before := []int{logCount(n1, "cannot read the Kubernetes API server"), logCount(n2, "cannot read the Kubernetes API server")}
		n1.proxy.cut(true)
		n2.proxy.cut(true)
		for i, n := range []*node{n1, n2} {
			waitLogMore(t, n, "cannot read the Kubernetes API server", before[i], 20*time.Second)
		}
		updatePolicy(t, ns, func(p *v1alpha1.L7NetworkPolicy) {
			p.Spec.Rules[0].HTTP[0].Paths = append(p.Spec.Rules[0].HTTP[0].Paths, v1alpha1.PathMatch{Exact: "/admin"})
		})
		old := []probe{{web, s2, "/admin", deny}, {bot, s1, "/admin", deny}, {web, s1, "/api/orders", allow}}
		checkVerdicts(t, 5, old...)
		// The controller sees neither node renew its record.
		d := waitPolicyStatus(t, ns, (policystatus.StaleHeartbeats+3)*heartbeat, wantStatus{enforced: metav1.ConditionFalse, nodes: "0/2",
			contains: []string{"applied on 0 of 2 nodes", n1.name + ": agent not reporting", n2.name + ": agent not reporting"}})
		t.Logf("status Enforced=False 0/2, both agents not reporting, %v later", d.Round(time.Millisecond))
		n1.proxy.cut(false)
		n2.proxy.cut(false)
		d = waitVerdicts(t, 60*time.Second, probe{web, s2, "/admin", allow}, probe{bot, s1, "/admin", allow})
		t.Logf("the change made while the nodes could not reach the API server was enforced on both %v after they could again", d.Round(time.Millisecond))
		for _, n := range []*node{n1, n2} {
			waitLog(t, n, "Kubernetes API server readable again", 10*time.Second)
		}
		waitNodeStatus(t, ns, 3, 10*time.Second, n1, n2)
		waitPolicyStatus(t, ns, 10*time.Second, enforcedAll(2))
	})

	t.Run("api server down", func(t *testing.T) {
		if e := ctl.exited(); len(e) > 0 {
			t.Fatalf("the controller exited before the API server went down: %v", e)
		}
		// Until now no reconcile failed: a write refused because the
		// cache was behind is retried, not an error.
		if series, failed, err := ctl.writes(); err != nil || failed > 0 {
			t.Errorf("the controller: %d failed reconciles (%v); status writes %v", failed, err, series)
		} else {
			t.Logf("the controller's status writes so far: %s", strings.Join(series, ", "))
		}
		probes := []probe{
			{web, s2, "/api/orders", allow}, {web, s2, "/admin", allow},
			{bot, s1, "/admin", allow}, {bot, s1, "/api/orders", allow}, {bot, s1, "/other", deny},
		}
		before := []int{logCount(n1, "cannot read the Kubernetes API server"), logCount(n2, "cannot read the Kubernetes API server")}
		stopAPIServer(t)
		// The agents notice (watches fail) and keep enforcing.
		for i, n := range []*node{n1, n2} {
			waitLogMore(t, n, "cannot read the Kubernetes API server", before[i], 20*time.Second)
		}
		checkVerdicts(t, 3, probes...)
		for _, n := range []*node{n1, n2} {
			if n.agent.Exited() {
				t.Fatalf("the agent of %s exited while the API server was down", n.name)
			}
			if code, body, err := n.agent.Get("/readyz"); err != nil || code != 200 {
				t.Errorf("%s: /readyz %d %q %v while the API server is down; the policy in force is still enforced", n.name, code, body, err)
			}
		}
		startAPIServer(t)
		// They catch up: the first change after the API server returns is
		// enforced on both nodes.
		updatePolicy(t, ns, func(p *v1alpha1.L7NetworkPolicy) { p.Spec = apiPolicy(ns, "web").Spec })
		d := waitVerdicts(t, 60*time.Second, probe{bot, s1, "/api/orders", deny}, probe{bot, s2, "/api/orders", deny},
			probe{web, s2, "/api/orders", allow})
		t.Logf("after the API server came back, a policy change was enforced on both nodes in %v", d.Round(time.Millisecond))
		waitNodeStatus(t, ns, 4, 30*time.Second, n1, n2)
		// The controller catches up too. An outage longer than its Lease's
		// renew deadline (10 s) ends it with "leader election lost", as any
		// controller-runtime manager; its Deployment starts it again.
		d = waitPolicyStatus(t, ns, 60*time.Second, enforcedAll(2))
		t.Logf("after the policy change, the controller wrote its status (generation 4, 2/2) %v later", d.Round(time.Millisecond))
		for _, e := range ctl.exited() {
			t.Logf("the controller exited during the outage and was started again: %s", e)
			if !strings.Contains(e, "leader election lost") {
				t.Errorf("the controller exited for another reason than losing its Lease during the outage: %s", e)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := k8s.Delete(ctx, &v1alpha1.L7NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"}}); err != nil {
			t.Fatal(err)
		}
		probes := []probe{{web, s2, "/admin", allow}, {bot, s1, "/admin", allow}, {bot, s2, "/api/orders", allow}}
		d := waitVerdicts(t, 10*time.Second, probes...)
		t.Logf("deleting the policy restored traffic on both nodes after %v", d.Round(time.Millisecond))
		if d > enforceWithin {
			t.Errorf("traffic restored after %v, want within %v", d, enforceWithin)
		}
		for _, n := range []*node{n1, n2} {
			waitFor(t, 5*time.Second, n.name+"'s AxonNodeStatus to list no policy", func() (bool, string) {
				st, err := nodeStatus(n.name)
				if err != nil {
					return false, err.Error()
				}
				return len(st.Status.Policies) == 0 && st.Status.PolicyCount == 0, fmt.Sprintf("%+v", st.Status)
			})
		}
	})
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "default"}}
	if err := k8s.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// updatePolicy changes the namespace's policy "api", retrying conflicts.
func updatePolicy(t *testing.T, ns string, change func(*v1alpha1.L7NetworkPolicy)) {
	t.Helper()
	for range 10 {
		var p v1alpha1.L7NetworkPolicy
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "api"}, &p); err != nil {
			t.Fatal(err)
		}
		change(&p)
		err := k8s.Update(context.Background(), &p)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("updating the policy: conflicts")
}

func setLabels(t *testing.T, obj *corev1.Pod, l map[string]string) {
	t.Helper()
	var p corev1.Pod
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}, &p); err != nil {
		t.Fatal(err)
	}
	p.Labels = l
	if err := k8s.Update(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
}

func nodeStatus(name string) (*v1alpha1.AxonNodeStatus, error) {
	var st v1alpha1.AxonNodeStatus
	err := k8s.Get(context.Background(), types.NamespacedName{Name: name}, &st)
	return &st, err
}

// waitNodeStatus waits until each node's AxonNodeStatus says it enforces
// and applies generation gen of the namespace's policy "api".
func waitNodeStatus(t *testing.T, ns string, gen int64, within time.Duration, nodes ...*node) {
	t.Helper()
	var p v1alpha1.L7NetworkPolicy
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "api"}, &p); err != nil {
		t.Fatal(err)
	}
	if p.Generation != gen {
		t.Fatalf("the policy is at generation %d, the test expected %d", p.Generation, gen)
	}
	for _, n := range nodes {
		want := []v1alpha1.NodePolicyStatus{{Namespace: ns, Name: "api", AppliedGeneration: gen}}
		waitFor(t, within, n.name+"'s AxonNodeStatus to list generation "+fmt.Sprint(gen), func() (bool, string) {
			st, err := nodeStatus(n.name)
			if err != nil {
				return false, err.Error()
			}
			s := st.Status
			return s.Enforcing && s.PolicyCount == 1 && slices.Equal(s.Policies, want) && s.Message == "" &&
				s.HeartbeatSeconds == int32(heartbeat/time.Second) && !s.HeartbeatTime.IsZero(), fmt.Sprintf("%+v", s)
		})
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s", within, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
