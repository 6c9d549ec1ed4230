package main

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/axon-dev/axon/controller/agentset"
	"github.com/axon-dev/axon/test/apiserver"
)

// The agents of a cluster are found through a real API server: the running
// pods with the DaemonSet's labels in the namespace, at their metrics port.
func TestDiscoverAgentsOnAnAPIServer(t *testing.T) {
	dir, err := apiserver.Assets()
	if err != nil {
		apiserver.Require(t, "no etcd and kube-apiserver for envtest: "+err.Error())
	}
	env := &envtest.Environment{BinaryAssetsDirectory: dir}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	cs := kubernetes.NewForConfigOrDie(cfg)
	const ns = "axon-system"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name string, labels map[string]string, port int32, phase corev1.PodPhase, ip string) {
		t.Helper()
		c := corev1.Container{Name: "agent", Image: "axon-agent"}
		if port != 0 {
			c.Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: port}}
		}
		p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status = corev1.PodStatus{Phase: phase, PodIP: ip}
		if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod("agent-a", agentset.Labels(), 9464, corev1.PodRunning, "192.0.2.10")
	pod("agent-b", agentset.Labels(), 0, corev1.PodRunning, "2001:db8::b")
	pod("agent-pending", agentset.Labels(), 9464, corev1.PodPending, "")
	pod("other", map[string]string{"app": "web"}, 9464, corev1.PodRunning, "192.0.2.99")

	got, err := agentURLs(ctx, cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"http://192.0.2.10:9464", "http://[2001:db8::b]:9090"}
	if !slices.Equal(got, want) {
		t.Errorf("agents %v, want %v", got, want)
	}
	if _, err := agentURLs(ctx, cfg, "default"); err == nil {
		t.Error("a namespace without agents gave no error")
	}
}
