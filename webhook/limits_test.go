package webhook_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// wideRules gives p one rule of n GET path prefixes from any source: at
// least n path rows. (A rule from selected pods compiles to no row at
// admission, which knows no pod but the one the policy protects.)
func wideRules(p *v1alpha1.L7NetworkPolicy, n int) {
	p.Spec.Rules[0].From = nil
	paths := make([]v1alpha1.PathMatch, n)
	for i := range paths {
		paths[i] = v1alpha1.PathMatch{Prefix: fmt.Sprintf("/v1/item%d/", i)}
	}
	p.Spec.Rules[0].HTTP = []v1alpha1.HTTPRule{{Methods: []string{"GET"}, Paths: paths}}
}

// needs is "spec.maxPathRows of AxonAgent default is L and this policy
// alone needs N" in a refusal.
var needs = regexp.MustCompile(`spec\.maxPathRows of AxonAgent default is (\d+) and this policy alone needs (\d+)`)

// The webhook judges a policy by the map sizes the agents run with: those of
// AxonAgent default, which the controller gives the agents as their flags,
// not the webhook's own (here the defaults, 131072 path rows). A policy
// that needs more path rows than spec.maxPathRows is refused naming the
// field, its value and the figure; raised, the same policy is admitted; with
// no AxonAgent the webhook's own flags apply again.
func TestAdmissionFollowsAxonAgentMapSizes(t *testing.T) {
	requireAPI(t)
	ctx := context.Background()
	ensureNamespace(t, "sizes")
	agent := &v1alpha1.AxonAgent{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.DefaultAxonAgentName},
		Spec: v1alpha1.AxonAgentSpec{MaxPathRows: 8}}
	if err := create(ctx, agent); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), agent) })

	p := basePolicy("sizes", "wide")
	wideRules(p, 20)
	// Policies of this test go with it (a rerun creates them again).
	t.Cleanup(func() {
		_ = k8s.DeleteAllOf(context.Background(), &v1alpha1.L7NetworkPolicy{}, client.InNamespace("sizes"))
	})
	err := create(ctx, p.DeepCopy())
	if err == nil || !strings.Contains(err.Error(), byWebhook) {
		t.Fatalf("20 path prefixes with maxPathRows 8: %v, want refused by the webhook", err)
	}
	t.Logf("refusal: %v", err)
	m := needs.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("refusal %q does not name spec.maxPathRows of AxonAgent default", err)
	}
	if limit, _ := strconv.Atoi(m[1]); limit != 8 {
		t.Errorf("refusal names limit %s, want 8", m[1])
	}
	need, _ := strconv.Atoi(m[2])
	if need < 20 {
		t.Errorf("refusal says the policy needs %d path rows, want at least its 20 prefixes", need)
	}
	if !strings.Contains(err.Error(), "path rows") || !strings.Contains(err.Error(), "kubectl edit axonagent default") {
		t.Errorf("refusal %q lacks what to raise and how", err)
	}

	// A small policy still fits the small limit.
	small := basePolicy("sizes", "small")
	if err := create(ctx, small); err != nil {
		t.Fatalf("a one-prefix policy with maxPathRows 8: %v, want admitted", err)
	}
	// An update that grows it past the limit is refused too.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur v1alpha1.L7NetworkPolicy
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(small), &cur); err != nil {
			return err
		}
		wideRules(&cur, 20)
		return k8s.Update(ctx, &cur)
	})
	if err == nil || !needs.MatchString(err.Error()) {
		t.Errorf("growing an admitted policy past maxPathRows: %v, want refused naming spec.maxPathRows", err)
	}

	// Raised to what the policy needs: admitted.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var a v1alpha1.AxonAgent
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(agent), &a); err != nil {
			return err
		}
		a.Spec.MaxPathRows = int32(need)
		return k8s.Update(ctx, &a)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := create(ctx, p.DeepCopy()); err != nil {
		t.Fatalf("maxPathRows raised to %d: %v, want admitted", need, err)
	}

	// Without an AxonAgent, the webhook's own limits (the defaults here).
	if err := k8s.Delete(ctx, agent); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(agent), &v1alpha1.AxonAgent{}); !apierrors.IsNotFound(err) {
		t.Fatalf("AxonAgent still there: %v", err)
	}
	q := basePolicy("sizes", "wide2")
	wideRules(q, 20)
	if err := create(ctx, q); err != nil {
		t.Fatalf("no AxonAgent: %v, want admitted under the webhook's default limits", err)
	}
}
