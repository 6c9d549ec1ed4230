package observe

import (
	"testing"

	"github.com/axon-dev/axon/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodsOf(t *testing.T) {
	yes := true
	pods := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders-5f7c9-abcde",
			Labels:          map[string]string{"app": "orders", "pod-template-hash": "5f7c9"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "orders-5f7c9", Controller: &yes}}},
			Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", Labels: map[string]string{"app": "db"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "db", Controller: &yes}}},
			Status: corev1.PodStatus{PodIP: "10.0.0.2"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "batch-0", Labels: map[string]string{"app": "orders", "workload": "batch"}},
			Status: corev1.PodStatus{PodIP: "10.0.0.3"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "pending"}},
	}
	max := int32(7)
	mons := []v1alpha1.HTTPMonitor{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "m"},
		Spec: v1alpha1.HTTPMonitorSpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
			Ports: []v1alpha1.MonitorPort{{Port: 8080}}, Routes: []string{"/x/*"}, MaxRoutes: &max}}}
	got := PodsOf(pods, mons)
	if len(got) != 3 {
		t.Fatalf("%d pods with IPs, want 3: %+v", len(got), got)
	}
	want := []struct {
		wl        string
		ips       int
		monitored bool
	}{{"orders", 2, true}, {"db", 1, false}, {"batch", 1, false}} // batch: other namespace
	for i, w := range want {
		g := got[i]
		if g.Workload != w.wl || len(g.IPs) != w.ips || g.Monitored != w.monitored {
			t.Errorf("pod %d: %+v, want %+v", i, g, w)
		}
	}
	if o := got[0]; o.MaxRoutes != 7 || len(o.Ports) != 1 || o.Ports[0] != 8080 {
		t.Errorf("monitor settings: %+v", o)
	}
}
