package compiler

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// knownPod is a pod whose IPs are pod sources.
type knownPod struct {
	ns, name string
	labels   map[string]string
	ips      []netip.Addr
	idents   []*ident // identity of each of ips
}

// ident is one source identity (the world, a CIDR trie entry or a pod
// (namespace, labels, containing CIDRs) set) while compiling.
type ident struct {
	id     uint32
	key    string // stable key: "pod:ns\x00k=v\x00..." or "cidr:prefix"
	pod    bool
	ns     string
	labels map[string]string
	ips    []netip.Addr // pods
	in     []string     // pods: the CIDRs some rule tests that contain ips
	prefix netip.Prefix // CIDR entries
}

// podIdentKey is the key of a pod identity: podKey, then the CIDRs that
// contain its IPs.
func podIdentKey(ns string, l map[string]string, in []string) string {
	k := podKey(ns, l)
	for _, c := range in {
		k += "\x00@" + c
	}
	return k
}

func podKey(ns string, l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("pod:")
	b.WriteString(ns)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
	}
	return b.String()
}

// knownPods returns the pods with IPs, sorted by namespace and name, and the
// warnings about IPs claimed by several pods (the first pod keeps the IP).
func knownPods(in *Input) ([]*knownPod, []string) {
	var out []*knownPod
	var warns []string
	pods := make([]*corev1.Pod, 0, len(in.Pods))
	for i := range in.Pods {
		pods = append(pods, &in.Pods[i])
	}
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	owner := map[netip.Addr]string{}
	for _, p := range pods {
		if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		ipStrs := []string{}
		for _, ip := range p.Status.PodIPs {
			ipStrs = append(ipStrs, ip.IP)
		}
		if len(ipStrs) == 0 && p.Status.PodIP != "" {
			ipStrs = append(ipStrs, p.Status.PodIP)
		}
		kp := &knownPod{ns: p.Namespace, name: p.Name, labels: p.Labels}
		if kp.labels == nil {
			kp.labels = map[string]string{}
		}
		for _, s := range ipStrs {
			a, err := netip.ParseAddr(s)
			if err != nil {
				warns = append(warns, fmt.Sprintf("pod %s/%s: ignoring bad IP %q", p.Namespace, p.Name, s))
				continue
			}
			a = a.Unmap()
			if o, dup := owner[a]; dup {
				warns = append(warns, fmt.Sprintf("pod %s/%s: IP %s already belongs to %s; ignored", p.Namespace, p.Name, a, o))
				continue
			}
			owner[a] = p.Namespace + "/" + p.Name
			kp.ips = append(kp.ips, a)
		}
		if len(kp.ips) > 0 {
			out = append(out, kp)
		}
	}
	return out, warns
}

// namespaceLabels returns the labels of every namespace the input mentions;
// namespaces gain the kubernetes.io/metadata.name label the API server sets.
func namespaceLabels(in *Input, pods []*knownPod, ps []*policy) map[string]map[string]string {
	out := map[string]map[string]string{}
	add := func(name string, l map[string]string) {
		m := map[string]string{}
		for k, v := range l {
			m[k] = v
		}
		if _, ok := m["kubernetes.io/metadata.name"]; !ok {
			m["kubernetes.io/metadata.name"] = name
		}
		out[name] = m
	}
	for _, ns := range in.Namespaces {
		add(ns.Name, ns.Labels)
	}
	for _, p := range pods {
		if _, ok := out[p.ns]; !ok {
			add(p.ns, nil)
		}
	}
	for _, p := range ps {
		if _, ok := out[p.p.Namespace]; !ok {
			add(p.p.Namespace, nil)
		}
	}
	return out
}

// target is a protected (pod, port) with the policies protecting it.
type target struct {
	pod      *knownPod
	port     uint16
	policies []int // indexes into the sorted policies
}

// targets lists the policed (pod, port) pairs with their policies.
func targets(pods []*knownPod, ps []*policy) []*target {
	var out []*target
	inNS := map[string][]int{} // policy indexes by namespace, increasing
	for i, p := range ps {
		inNS[p.p.Namespace] = append(inNS[p.p.Namespace], i)
	}
	for _, kp := range pods {
		byPort := map[uint16][]int{}
		for _, i := range inNS[kp.ns] {
			p := ps[i]
			if !p.selector.Matches(labels.Set(kp.labels)) {
				continue
			}
			for _, port := range p.p.Spec.Ports {
				l := byPort[uint16(port.Port)]
				if len(l) == 0 || l[len(l)-1] != i {
					byPort[uint16(port.Port)] = append(l, i)
				}
			}
		}
		for port, pol := range byPort {
			out = append(out, &target{pod: kp, port: port, policies: pol})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.pod != b.pod {
			return a.pod.ns+"/"+a.pod.name < b.pod.ns+"/"+b.pod.name
		}
		return a.port < b.port
	})
	return out
}
