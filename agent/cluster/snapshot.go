package cluster

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/axon-dev/axon/policy/source"
)

// snapshot is what the node status needs of one load's objects.
type snapshot struct {
	gens     map[types.NamespacedName]int64 // every policy's metadata.generation
	local    []types.NamespacedName         // policies selecting a pod of this node, sorted
	localIPs []netip.Addr                   // IPs of this node's pods
}

// snapshotOf records the generation of every policy, which of them select a
// pod of this node, and the IPs of this node's pods.
func (s *Source) snapshotOf(objs source.Objects) *snapshot {
	snap := &snapshot{gens: map[types.NamespacedName]int64{}}
	byNS := map[string][]labels.Set{}
	for i := range objs.Pods {
		p := &objs.Pods[i]
		if p.Spec.NodeName != s.cfg.NodeName || p.Spec.HostNetwork ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		byNS[p.Namespace] = append(byNS[p.Namespace], labels.Set(p.Labels))
		for _, str := range append([]string{p.Status.PodIP}, podIPs(p.Status.PodIPs)...) {
			if ip, err := netip.ParseAddr(str); err == nil && !slices.Contains(snap.localIPs, ip) {
				snap.localIPs = append(snap.localIPs, ip)
			}
		}
	}
	for i := range objs.Policies {
		p := &objs.Policies[i]
		key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		snap.gens[key] = p.Generation
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil {
			continue // refused by the load; it selects nothing it could apply
		}
		for _, l := range byNS[p.Namespace] {
			if sel.Matches(l) {
				snap.local = append(snap.local, key)
				break
			}
		}
	}
	slices.SortFunc(snap.local, func(a, b types.NamespacedName) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return snap
}

func podIPs(ips []corev1.PodIP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP
	}
	return out
}
