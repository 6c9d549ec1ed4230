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

// TestPathKeyBoundary: patterns of the maximum length (127 bytes) fill the
// 128-byte path key exactly; longer paths must still be told apart.
func TestPathKeyBoundary(t *testing.T) {
	long := "/" + strings.Repeat("a", 126) // 127 bytes
	p := v1alpha1.L7NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"}}
	p.Spec.Ports = []v1alpha1.PortSpec{{Port: 8080}}
	p.Spec.Rules = []v1alpha1.Rule{
		{HTTP: []v1alpha1.HTTPRule{{Methods: []string{"GET"}, Paths: []v1alpha1.PathMatch{{Exact: long}}}}},
		{HTTP: []v1alpha1.HTTPRule{{Methods: []string{"POST"}, Paths: []v1alpha1.PathMatch{{Prefix: long}}}}},
		{HTTP: []v1alpha1.HTTPRule{{Methods: []string{"PUT"}, Paths: []v1alpha1.PathMatch{{Glob: long[:120] + "*"}}}}},
	}
	in := &Input{Pods: []corev1.Pod{pod("shop", "orders", "10.1.0.1", nil)}, Policies: []v1alpha1.L7NetworkPolicy{p}}
	tab, err := Compile(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOracle(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		allow        bool
	}{
		{"GET", long, true},
		{"GET", long + "a", false},
		{"GET", long + "/", false},
		{"GET", long[:126], false},
		{"POST", long, true},
		{"POST", long + "/", true},
		{"POST", long + "/x/y", true},
		{"POST", long + "a", false},
		{"POST", long + "a/b", false},
		{"PUT", long, true},
		{"PUT", long + "aaaaaaa", true},
		{"PUT", long + "/b", false},
	} {
		r := req("10.9.9.9", c.method, c.path)
		got := tab.Decide(r)
		want, err := o.Decide(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || (got.Action == table.DecisionAllow) != c.allow {
			t.Errorf("%s %d-byte path: table %+v, OPA %+v, want allow=%v", c.method, len(c.path), got, want, c.allow)
		}
	}
}
