package cluster

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stripPod keeps what the compiler and the attach logic read of a pod:
// identity (namespace, name, labels), node, host network, phase and IPs.
// The informer stores only that, so a large cluster's pods cost little.
func stripPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, Labels: p.Labels,
			ResourceVersion: p.ResourceVersion, DeletionTimestamp: p.DeletionTimestamp,
		},
		Spec:   corev1.PodSpec{NodeName: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork},
		Status: corev1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}, nil
}

// stripNamespace keeps a namespace's name and labels.
func stripNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns.Name, UID: ns.UID, Labels: ns.Labels, ResourceVersion: ns.ResourceVersion,
	}}, nil
}

// relevant reports whether an update changes what a policy set is made of:
// a pod's or namespace's stripped fields, a ConfigMap's data, a policy's or
// monitor's generation, labels or annotations. Status writes (the
// controller's Enforced condition) and resyncs are not changes.
func relevant(oldObj, newObj any) bool {
	switch n := newObj.(type) {
	case *corev1.Pod:
		o, ok := oldObj.(*corev1.Pod)
		return !ok || !samePod(o, n)
	case *corev1.Namespace:
		o, ok := oldObj.(*corev1.Namespace)
		return !ok || !maps.Equal(o.Labels, n.Labels)
	case *corev1.ConfigMap:
		o, ok := oldObj.(*corev1.ConfigMap)
		return !ok || !maps.Equal(o.Data, n.Data)
	case metav1.Object:
		o, ok := oldObj.(metav1.Object)
		return !ok || o.GetGeneration() != n.GetGeneration() || !maps.Equal(o.GetLabels(), n.GetLabels()) ||
			!maps.Equal(o.GetAnnotations(), n.GetAnnotations()) || (o.GetDeletionTimestamp() == nil) != (n.GetDeletionTimestamp() == nil)
	}
	return true
}

func samePod(a, b *corev1.Pod) bool {
	if !maps.Equal(a.Labels, b.Labels) || a.Spec.NodeName != b.Spec.NodeName || a.Spec.HostNetwork != b.Spec.HostNetwork || a.Status.Phase != b.Status.Phase ||
		a.Status.PodIP != b.Status.PodIP || len(a.Status.PodIPs) != len(b.Status.PodIPs) ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) {
		return false
	}
	for i := range a.Status.PodIPs {
		if a.Status.PodIPs[i] != b.Status.PodIPs[i] {
			return false
		}
	}
	return true
}
