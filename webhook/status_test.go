package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/webhook"
)

// A policy whose module arrives later in a ConfigMap is admitted with a
// warning; re-validating it once the ConfigMap holds an unsupported module
// gives Accepted=False (UnsupportedRego, with the line), which the status
// subresource stores with observedGeneration and `kubectl get` shows in the
// Accepted column.
func TestAcceptedStatus(t *testing.T) {
	requireAPI(t)
	ctx := context.Background()
	ensureNamespace(t, "status")
	p := basePolicy("status", "late-module")
	p.Spec.Rules, p.Spec.Rego = nil, &v1alpha1.RegoSource{ConfigMapRef: &v1alpha1.ConfigMapKeyRef{Name: "late", Key: "m.rego"}}
	if err := create(ctx, p); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: "status"},
		Data: map[string]string{"m.rego": regoHead + "allow if {\n\tcount(input.path) > 5\n}\n"}}
	if err := create(ctx, cm); err != nil {
		t.Fatal(err)
	}

	// What the controller does when the ConfigMap changes.
	errs, _ := webhook.ValidateL7NetworkPolicy(ctx, p, webhook.Modules{
		compiler.ConfigMapModuleKey("status", "late", "m.rego"): cm.Data["m.rego"]}, webhook.Limits{})
	webhook.SetAccepted(p, errs)
	if err := k8s.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}

	var got v1alpha1.L7NetworkPolicy
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonUnsupportedRego ||
		c.ObservedGeneration != got.Generation || got.Status.ObservedGeneration != got.Generation {
		t.Fatalf("status %+v (generation %d)", got.Status, got.Generation)
	}
	t.Logf("Accepted=False: %s", c.Message)

	// kubectl get asks for a Table; the Accepted column reads the condition.
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base.Path = "/apis/axon.dev/v1alpha1/namespaces/status/l7networkpolicies/late-module"
	req, _ := http.NewRequest("GET", base.String(), nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil || len(table.Rows) != 1 {
		t.Fatalf("table: %v %s", err, body)
	}
	cells := map[string]any{}
	for i, col := range table.ColumnDefinitions {
		cells[col.Name] = table.Rows[0].Cells[i]
	}
	if cells["Accepted"] != "False" || cells["Mode"] != "Enforce" || cells["Default"] != "Deny" {
		t.Errorf("kubectl get columns: %v", cells)
	}

	// A spec update is compiled with the module as the ConfigMap has it now:
	// refused while the module is unsupported, admitted once it is fixed.
	got.Spec.DefaultAction = v1alpha1.ActionAllow
	if err := k8s.Update(ctx, got.DeepCopy()); err == nil {
		t.Fatal("spec update admitted with an unsupported module in the ConfigMap")
	}
	cm.Data["m.rego"] = regoHead + "allow if input.method == \"GET\"\n"
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	// The new generation makes the status stale until it is written again.
	if got.Status.ObservedGeneration >= got.Generation {
		t.Errorf("observedGeneration %d, generation %d after a spec change", got.Status.ObservedGeneration, got.Generation)
	}
}
