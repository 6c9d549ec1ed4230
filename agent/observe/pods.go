package observe

import (
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// LabelWorkload names a standalone pod's workload when it has no owner.
const LabelWorkload = "workload"

// WorkloadOf is a pod's workload label value: its "workload" label, else
// its controller owner (a ReplicaSet made by a Deployment counts as the
// Deployment: the pod-template-hash suffix is dropped), else the pod name.
func WorkloadOf(p *corev1.Pod) string {
	if w := p.Labels[LabelWorkload]; w != "" {
		return w
	}
	if o := metav1.GetControllerOf(p); o != nil {
		if h := p.Labels["pod-template-hash"]; o.Kind == "ReplicaSet" && h != "" {
			if name, ok := strings.CutSuffix(o.Name, "-"+h); ok {
				return name
			}
		}
		return o.Name
	}
	return p.Name
}

// PodsOf returns every pod with an IP as the observer needs it, marking the
// pods some monitor selects with that monitor's settings. When several
// monitors select a pod, the first by namespace/name wins.
func PodsOf(pods []corev1.Pod, monitors []v1alpha1.HTTPMonitor) []Pod {
	ms := append([]v1alpha1.HTTPMonitor(nil), monitors...)
	sort.Slice(ms, func(i, j int) bool {
		return ms[i].Namespace+"/"+ms[i].Name < ms[j].Namespace+"/"+ms[j].Name
	})
	sels := make([]labels.Selector, len(ms))
	for i := range ms {
		s, err := metav1.LabelSelectorAsSelector(&ms[i].Spec.PodSelector)
		if err != nil {
			s = labels.Nothing() // rejected by validation already
		}
		sels[i] = s
	}
	var out []Pod
	for i := range pods {
		p := &pods[i]
		op := Pod{Namespace: p.Namespace, Name: p.Name, Workload: WorkloadOf(p)}
		for _, ip := range p.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil {
				op.IPs = append(op.IPs, a)
			}
		}
		if len(op.IPs) == 0 {
			if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
				op.IPs = append(op.IPs, a)
			}
		}
		if len(op.IPs) == 0 {
			continue
		}
		for j := range ms {
			if ms[j].Namespace != p.Namespace || !sels[j].Matches(labels.Set(p.Labels)) {
				continue
			}
			op.Monitored = true
			op.Routes = NewTemplate(ms[j].Spec.Routes)
			op.MaxRoutes = ms[j].MaxRoutesOrDefault()
			for _, pt := range ms[j].Spec.Ports {
				op.Ports = append(op.Ports, uint16(pt.Port))
			}
			break
		}
		out = append(out, op)
	}
	return out
}
