package audit

import (
	"fmt"
	"net/netip"

	"github.com/axon-dev/axon/agent/observe"
	"github.com/axon-dev/axon/policy/source"
)

// Index finds the pod behind an address and the route of a path sent to it.
// It is immutable: build a new one when the pods change.
type Index struct {
	byIP map[netip.Addr]observe.Pod
}

// NewIndex indexes pods by IP.
func NewIndex(pods []observe.Pod) *Index {
	x := &Index{byIP: map[netip.Addr]observe.Pod{}}
	for _, p := range pods {
		for _, ip := range p.IPs {
			x.byIP[ip.Unmap()] = p
		}
	}
	return x
}

// LoadIndex indexes the pods and HTTPMonitors that load reads (a policy
// directory, or the API server's objects in cluster mode).
func LoadIndex(load func() (*source.Set, source.Problems, error)) (*Index, error) {
	set, probs, err := load()
	if err != nil {
		return nil, fmt.Errorf("reading pods: %w", err)
	}
	if errs := probs.Errors(); len(errs) > 0 {
		return nil, fmt.Errorf("reading pods: %w", probs.Err())
	}
	return NewIndex(observe.PodsOf(set.Pods, set.Monitors)), nil
}

// Pod returns the pod with address ip.
func (x *Index) Pod(ip netip.Addr) (observe.Pod, bool) {
	if x == nil {
		return observe.Pod{}, false
	}
	p, ok := x.byIP[ip.Unmap()]
	return p, ok
}

// Route is the route of path on the pod at dst (its HTTPMonitor's templates,
// else the heuristic) and the route cap of that monitor (0: the default).
func (x *Index) Route(dst netip.Addr, path string) (route string, max int) {
	p, _ := x.Pod(dst)
	return observe.RouteOf(p.Routes, path), p.MaxRoutes
}
