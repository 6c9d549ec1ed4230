package datapath

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/table"
)

// TestRedteamNULPathLiteralInKernel (red team, pol24): a Rego module may
// write a path literal with NUL bytes (the compiler accepts it).
// `input.path == "/admin\u0000"` becomes the exact row "/admin\x00\x00".
// The Go evaluator looks rows up with the key "path\x00" and finds it for
// no path (as OPA: no request path holds a NUL); the datapath's key is the
// path, a NUL and zero padding, so "/admin\x00\x00..." is a prefix of the
// key of GET /admin: the kernel allows what the table and OPA deny.
func TestRedteamNULPathLiteralInKernel(t *testing.T) {
	d := sharedTest(t)
	orders := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders", Labels: map[string]string{"app": "orders"}}}
	orders.Status.PodIP = server.Addr().String()
	for name, cond := range map[string]string{
		"exact":      `input.path == "/admin\u0000"`,
		"startswith": `startswith(input.path, "/admin\u0000\u0000")`,
	} {
		t.Run(name, func(t *testing.T) {
			in := &compiler.Input{
				Pods: []corev1.Pod{orders},
				Policies: []v1alpha1.L7NetworkPolicy{{
					ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "nul"},
					Spec: v1alpha1.L7NetworkPolicySpec{
						PodSelector:   metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
						Ports:         []v1alpha1.PortSpec{{Port: int32(server.Port())}},
						Mode:          v1alpha1.ModeEnforce,
						DefaultAction: v1alpha1.ActionDeny,
						Rego:          &v1alpha1.RegoSource{Inline: "package nul\n\nimport rego.v1\n\nallow if " + cond + "\n"},
					},
				}},
			}
			tab, err := compiler.Compile(context.Background(), in)
			if err != nil {
				t.Logf("compile refuses the module: %v", err)
				return
			}
			o, err := compiler.NewOracle(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			for _, lens := range []int{maxTrieLens, 0} {
				d.setTrieLens(t, lens)
				if err := d.Apply(tab); err != nil {
					t.Fatal(err)
				}
				r := table.Request{Src: client, Dst: server, Method: "GET", Target: "/admin"}
				want, err := o.Decide(context.Background(), r)
				if err != nil {
					t.Fatal(err)
				}
				ref := tab.DecideBounded(r)
				f := newFlow(t, d.Ingress(), client, server)
				got := f.send("GET /admin HTTP/1.1\r\nHost: h\r\n\r\n")
				if ref.Action != table.DecisionDeny || want.Action != table.DecisionDeny || got != reset {
					t.Errorf("trie lens %d: GET /admin with `allow if %s`: OPA %s, table %s, kernel %v (want reset)", lens, cond, want.Action, ref.Action, got)
				}
			}
		})
	}
}
