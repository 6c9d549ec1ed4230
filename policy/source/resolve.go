package source

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ErrUnknownPeer is returned when a name matches no pod of the set.
var ErrUnknownPeer = errors.New("unknown pod")

// PodIP returns a pod's primary IP (status.podIP, else the first podIPs).
func PodIP(pod *corev1.Pod) (netip.Addr, bool) {
	for _, s := range append([]string{pod.Status.PodIP}, podIPs(pod)...) {
		if ip, err := netip.ParseAddr(s); err == nil {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func podIPs(pod *corev1.Pod) []string {
	out := make([]string, len(pod.Status.PodIPs))
	for i, ip := range pod.Status.PodIPs {
		out[i] = ip.IP
	}
	return out
}

// ResolveAddr turns what a user types for a source or destination host
// into an address: an IP, "namespace/pod", a pod name, or a short name that
// is a pod's app label or its name without the ordinal suffix ("web" for
// web-0). Ambiguous names are errors.
func (s *Set) ResolveAddr(name string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(name); err == nil {
		return ip, nil
	}
	ns, podName, qualified := strings.Cut(name, "/")
	tries := []func(p *corev1.Pod) bool{
		func(p *corev1.Pod) bool { return qualified && p.Namespace == ns && p.Name == podName },
		func(p *corev1.Pod) bool { return !qualified && p.Name == name },
		func(p *corev1.Pod) bool { return !qualified && p.Labels["app"] == name },
		func(p *corev1.Pod) bool { return !qualified && strings.HasPrefix(p.Name, name+"-") },
	}
	for _, match := range tries {
		var found []*corev1.Pod
		for i := range s.Pods {
			if match(&s.Pods[i]) {
				found = append(found, &s.Pods[i])
			}
		}
		switch {
		case len(found) == 1:
			ip, ok := PodIP(found[0])
			if !ok {
				return netip.Addr{}, fmt.Errorf("pod %s/%s has no IP", found[0].Namespace, found[0].Name)
			}
			return ip, nil
		case len(found) > 1:
			names := make([]string, len(found))
			for i, p := range found {
				names[i] = p.Namespace + "/" + p.Name
			}
			return netip.Addr{}, fmt.Errorf("%q is ambiguous: %s", name, strings.Join(names, ", "))
		}
	}
	return netip.Addr{}, fmt.Errorf("%w %q (want an IP, namespace/pod, a pod name or its app label)", ErrUnknownPeer, name)
}

// ResolveAddrPort resolves "host:port" with host as in ResolveAddr
// ("orders:8080", "shop/orders-0:8080", "10.0.0.1:80", "[2001:db8::1]:80").
func (s *Set) ResolveAddrPort(hostport string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap, nil
	}
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: want host:port", hostport)
	}
	port, err := strconv.ParseUint(hostport[i+1:], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: bad port %q", hostport, hostport[i+1:])
	}
	ip, err := s.ResolveAddr(hostport[:i])
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// PodByAddr returns the running pod that owns ip (not a host-network or
// finished pod), or nil.
func (s *Set) PodByAddr(ip netip.Addr) *corev1.Pod {
	for i := range s.Pods {
		if !ownsIP(&s.Pods[i]) {
			continue
		}
		for _, a := range append([]string{s.Pods[i].Status.PodIP}, podIPs(&s.Pods[i])...) {
			if a == ip.String() {
				return &s.Pods[i]
			}
		}
	}
	return nil
}

// ParseRequest splits a request as a user writes it, "GET /api/v1/x", into
// method and request target.
func ParseRequest(s string) (method, target string, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return "", "", fmt.Errorf("request %q: want METHOD TARGET, e.g. \"GET /api/v1/orders\"", s)
	}
	return f[0], f[1], nil
}
