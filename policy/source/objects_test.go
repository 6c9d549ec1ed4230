package source

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
)

// Objects read from the API server are checked as a directory's files are:
// the same defaulting and validation, references to ConfigMaps, duplicate
// pod IPs; problems name the object.
func TestFromObjects(t *testing.T) {
	good := v1alpha1.L7NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "good", Generation: 4, ResourceVersion: "17",
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
			CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0))},
		Spec: v1alpha1.L7NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Ports:       []v1alpha1.PortSpec{{Port: 8080}},
			Rules: []v1alpha1.Rule{{Action: v1alpha1.ActionAllow,
				HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Prefix: "/api/"}}}}}},
		},
		Status: v1alpha1.L7NetworkPolicyStatus{ObservedGeneration: 3, Nodes: "2/2"},
	}
	missingCM := *good.DeepCopy()
	missingCM.Name = "rego"
	missingCM.Spec.Rules = nil
	missingCM.Spec.Rego = &v1alpha1.RegoSource{ConfigMapRef: &v1alpha1.ConfigMapKeyRef{Name: "rules", Key: "x.rego"}}
	pod := func(name, ip string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"app": "api"}},
			Spec:   corev1.PodSpec{NodeName: "n1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip}}
	}
	set, problems := FromObjects(Objects{
		Namespaces: []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}}}},
		Pods:       []corev1.Pod{pod("a", "10.0.0.1"), pod("b", "10.0.0.1")},
		Policies:   []v1alpha1.L7NetworkPolicy{good, missingCM},
	})
	errs := problems.Errors()
	if len(errs) != 2 {
		t.Fatalf("errors = %v, want 2 (duplicate pod IP, missing ConfigMap)", errs)
	}
	if errs[0].Pos.File != "cluster/l7networkpolicies/shop/rego" || !strings.Contains(errs[0].Msg, "no ConfigMap shop/rules") {
		t.Errorf("error 0 = %v", errs[0])
	}
	if errs[1].Pos.File != "cluster/pods/shop/b" || !strings.Contains(errs[1].Msg, "already the IP of the pod at cluster/pods/shop/a") {
		t.Errorf("error 1 = %v", errs[1])
	}
	if len(set.Policies) != 1 || set.Policies[0].Name != "good" {
		t.Fatalf("policies = %v, want good only", set.Policies)
	}
	p := set.Policies[0]
	if p.Generation != 4 || p.Spec.Mode != v1alpha1.ModeEnforce || p.Spec.DefaultAction != v1alpha1.ActionDeny {
		t.Errorf("policy not kept or defaulted: generation %d mode %q default %q", p.Generation, p.Spec.Mode, p.Spec.DefaultAction)
	}
	if o := p.Annotations[v1alpha1.AnnotationOrigin]; !strings.HasPrefix(o, "cluster/l7networkpolicies/shop/good:") {
		t.Errorf("origin = %q", o)
	}
	if len(set.Namespaces) != 1 || set.Namespaces[0].Labels[LabelNamespaceName] != "shop" || set.Namespaces[0].Labels["team"] != "a" {
		t.Errorf("namespaces = %v", set.Namespaces)
	}

	// The missing ConfigMap, once there, makes the Rego policy load.
	cm := corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "rules"},
		Data: map[string]string{"x.rego": "package x\n"}}
	set, problems = FromObjects(Objects{Policies: []v1alpha1.L7NetworkPolicy{missingCM}, ConfigMaps: []corev1.ConfigMap{cm}})
	if errs := problems.Errors(); len(errs) != 0 || len(set.Policies) != 1 {
		t.Errorf("with its ConfigMap: errors %v, policies %d", errs, len(set.Policies))
	}
	if _, ok := set.Input().Modules[compiler.ConfigMapModuleKey("shop", "rules", "x.rego")]; !ok {
		t.Errorf("the ConfigMap's module is not an input module: %v", set.Input().Modules)
	}
}
