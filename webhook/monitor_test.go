package webhook_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// monitorByWebhook is how the API server prefixes a refusal of the
// HTTPMonitor webhook.
const monitorByWebhook = `admission webhook "httpmonitors.axon.dev" denied the request`

func baseMonitor(name string) *v1alpha1.HTTPMonitor {
	return &v1alpha1.HTTPMonitor{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "monitors"},
		Spec: v1alpha1.HTTPMonitorSpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
			Ports:       []v1alpha1.MonitorPort{{Port: 8080}},
			Routes:      []string{"/api/orders/*", "/api/orders/*/items"},
		},
	}
}

// HTTPMonitors go through the same checks as in a policy folder
// (validation.ValidateHTTPMonitor): a valid one is admitted, and what the
// CRD schema lets through but the loader refuses is refused by the webhook
// with the field path; a spec update is checked again.
func TestHTTPMonitorAdmission(t *testing.T) {
	requireAPI(t)
	ctx := context.Background()
	ensureNamespace(t, "monitors")
	good := baseMonitor("good")
	if err := create(ctx, good); err != nil {
		t.Fatalf("valid monitor refused: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(m *v1alpha1.HTTPMonitor)
		by     string // "webhook" or "schema"
		want   []string
	}{
		{"star inside a segment", func(m *v1alpha1.HTTPMonitor) { m.Spec.Routes = []string{"/api/ord*"} },
			"webhook", []string{"spec.routes[0]", "matches one whole segment"}},
		{"duplicate route", func(m *v1alpha1.HTTPMonitor) { m.Spec.Routes = []string{"/a/*", "/b", "/a/*"} },
			"webhook", []string{"spec.routes[2]", "Duplicate value"}},
		{"bad selector operator", func(m *v1alpha1.HTTPMonitor) {
			m.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near", Values: []string{"x"}}}}
		}, "webhook", []string{"spec.podSelector", "not a valid label selector operator"}},
		{"route with a query", func(m *v1alpha1.HTTPMonitor) { m.Spec.Routes = []string{"/a?b=1"} },
			"schema", []string{"spec.routes[0]", "should match"}},
		{"port out of range", func(m *v1alpha1.HTTPMonitor) { m.Spec.Ports = []v1alpha1.MonitorPort{{Port: 70000}} },
			"schema", []string{"spec.ports[0].port", "should be less than or equal to 65535"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := baseMonitor("bad" + strings.Repeat("x", i))
			c.mutate(m)
			err := create(ctx, m)
			if err == nil {
				t.Fatal("admitted")
			}
			msg := err.Error()
			if c.by == "webhook" && !strings.Contains(msg, monitorByWebhook) {
				t.Errorf("not refused by the webhook: %s", msg)
			}
			if c.by == "schema" && (!apierrors.IsInvalid(err) || strings.Contains(msg, monitorByWebhook)) {
				t.Errorf("not refused by the schema: %s", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			t.Logf("refused: %s", msg)
		})
	}

	// An update that breaks a stored monitor is refused; a label-only update
	// is admitted.
	var got v1alpha1.HTTPMonitor
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(good), &got); err != nil {
		t.Fatal(err)
	}
	bad := got.DeepCopy()
	bad.Spec.Routes = append(bad.Spec.Routes, "/x/y*")
	if err := k8s.Update(ctx, bad); err == nil || !strings.Contains(err.Error(), "spec.routes[2]") {
		t.Fatalf("bad update: %v", err)
	}
	got.Labels = map[string]string{"team": "a"}
	if err := k8s.Update(ctx, &got); err != nil {
		t.Fatalf("label update: %v", err)
	}
}
