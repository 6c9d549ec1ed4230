package compiler

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/table"
)

// TestIPBlockDenyMatchesPods is issue 9 class 14: a Deny rule's ipBlock
// denies the pods whose address it contains (two pods with the same labels,
// one inside and one outside the CIDR, are told apart), while an Allow
// rule's ipBlock still selects external sources only. Table and OPA agree.
func TestIPBlockDenyMatchesPods(t *testing.T) {
	ctx := context.Background()
	in := &Input{
		Pods: []corev1.Pod{
			pod("shop", "orders", "10.1.0.1", map[string]string{"app": "orders"}),
			pod("shop", "web-a", "10.1.0.2", map[string]string{"app": "web"}),
			pod("shop", "web-b", "10.1.9.2", map[string]string{"app": "web"}),
			pod("shop", "web-c", "10.1.0.3", map[string]string{"app": "web"}),
		},
		Policies: []v1alpha1.L7NetworkPolicy{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders"},
			Spec: v1alpha1.L7NetworkPolicySpec{
				PodSelector:   metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
				Ports:         []v1alpha1.PortSpec{{Port: 8080}},
				Mode:          v1alpha1.ModeEnforce,
				DefaultAction: v1alpha1.ActionDeny,
				Rules: []v1alpha1.Rule{
					{Action: v1alpha1.ActionDeny, From: []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "10.1.0.0/24", Except: []string{"10.1.0.3/32"}}}}},
					{Action: v1alpha1.ActionAllow, From: []v1alpha1.Peer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}},
					{Action: v1alpha1.ActionAllow, From: []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: "10.1.9.0/24"}}}, HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Prefix: "/internal"}}}}},
				},
			},
		}},
	}
	tab, err := Compile(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOracle(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src, target string
		want        table.DecisionAction
		index       int
	}{
		{"10.1.0.2", "/x", table.DecisionDeny, 0},         // pod inside the Deny CIDR
		{"10.1.9.2", "/x", table.DecisionAllow, 1},        // same labels, outside it
		{"10.1.0.3", "/x", table.DecisionAllow, 1},        // in the except
		{"10.1.0.77", "/x", table.DecisionDeny, 0},        // external inside it
		{"10.1.9.2", "/internal", table.DecisionAllow, 1}, // an Allow ipBlock does not select the pod
		{"10.1.9.9", "/internal", table.DecisionAllow, 2}, // but selects an external source
		{"10.1.9.9", "/other", table.DecisionDeny, -1},
	} {
		r := req(c.src, "GET", c.target)
		got := tab.Decide(r)
		want, err := o.Decide(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s %s: table %+v, OPA %+v", c.src, c.target, got, want)
		}
		rule := tab.Rules[got.Rule-1]
		if got.Action != c.want || rule.Index != c.index {
			t.Errorf("%s %s: %v by rule %d, want %v by rule %d", c.src, c.target, got.Action, rule.Index, c.want, c.index)
		}
	}
	var split int
	for _, id := range tab.Identities {
		if id.Labels["app"] == "web" && strings.Contains(strings.Join(id.InCIDRs, ","), "10.1.0.0/24") {
			split++
		}
	}
	if split == 0 {
		t.Errorf("no app=web identity records the CIDR: %+v", tab.Identities)
	}
}
