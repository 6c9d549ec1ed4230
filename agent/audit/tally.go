package audit

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/agent/observe"
)

// RouteOther is the route of requests past a policy's route cap, of paths
// longer than the datapath keeps, and of the overflow series.
const RouteOther = observe.RouteOther

// MethodOverflow is the method label of the overflow series: requests whose
// tuple found the datapath's table full (source and path unknown).
const MethodOverflow = "_OTHER"

// maxSourceIPs bounds the addresses kept per series for the API.
const maxSourceIPs = 8

// Key is one series of axon_policy_denied_requests_total.
type Key struct {
	Namespace       string `json:"namespace"`
	Policy          string `json:"policy"`
	Rule            string `json:"rule"`
	Decision        string `json:"decision"`
	SourceNamespace string `json:"source_namespace"`
	SourceWorkload  string `json:"source_workload"`
	Method          string `json:"method"`
	Route           string `json:"route"`
}

// Series is a key's count since the agent started, and when its first and
// last requests were seen (to the tally's polling period).
type Series struct {
	Key
	Count uint64 `json:"count"`
	// SinceChange is the part of Count since its policy last changed
	// (Policy.ChangedAt): what the policy as it is now would deny.
	SinceChange uint64    `json:"since_change"`
	First       time.Time `json:"first_seen"`
	Last        time.Time `json:"last_seen"`
	SourceIPs   []string  `json:"source_ips,omitempty"` // up to 8 source addresses seen
}

// RuleInfo labels a rule and verdict of the table in force.
type RuleInfo struct {
	Namespace, Policy, Rule, Decision string
}

// Resolver gives what a tally needs from the agent at the time of a read:
// the labels of a rule and verdict, and the address of an endpoint, both
// from the table in force.
type Resolver struct {
	Rule     func(datapath.RuleVerdict) RuleInfo
	Endpoint func(id uint32) (netip.Addr, bool)
	Pods     *Index
}

// Tally accumulates the datapath's raw tallies into labelled series. Each
// read adds what each raw tuple counted since the previous read to the
// series it resolves to now: series are monotonic however pods, routes and
// rule IDs change. Routes are capped per policy for the agent's life (the
// series are counters, never expired), so the series stay bounded.
type Tally struct {
	mu       sync.Mutex
	last     map[datapath.DenialKey]uint64
	lastOver map[datapath.RuleVerdict]uint64
	series   map[Key]*Series
	routes   *observe.Routes
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{last: map[datapath.DenialKey]uint64{}, lastOver: map[datapath.RuleVerdict]uint64{},
		series: map[Key]*Series{}, routes: observe.NewRoutes()}
}

// Prime takes d as zero: counts pinned maps held before this agent started
// are not its own (Prometheus counters restart with the process).
func (t *Tally) Prime(d datapath.Denials) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last, t.lastOver = d.Tuples, d.Overflow
}

// delta is what a raw counter counted since last; a smaller value means the
// map was recreated and counts from zero again.
func delta(now, last uint64) uint64 {
	if now >= last {
		return now - last
	}
	return now
}

// Add adds what d counted since the previous Add (or Prime), resolved with
// r, seen at now.
func (t *Tally) Add(d datapath.Denials, r Resolver, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// In a fixed order, so that which routes take a policy's last free
	// places under its cap does not depend on map iteration.
	keys := slices.SortedFunc(maps.Keys(d.Tuples), func(a, b datapath.DenialKey) int {
		return cmp.Or(cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Verdict, b.Verdict),
			cmp.Compare(a.Endpoint, b.Endpoint), a.Src.Compare(b.Src), cmp.Compare(a.Method, b.Method),
			cmp.Compare(a.Path, b.Path), cmp.Compare(a.PathLen, b.PathLen))
	})
	for _, k := range keys {
		v := d.Tuples[k]
		n := delta(v, t.last[k])
		if n == 0 {
			continue
		}
		t.addLocked(t.keyOf(k, r, now), n, k.Src, now)
	}
	for rv, v := range d.Overflow {
		n := delta(v, t.lastOver[rv])
		if n == 0 {
			continue
		}
		ri := r.Rule(rv)
		k := Key{Namespace: ri.Namespace, Policy: ri.Policy, Rule: ri.Rule, Decision: ri.Decision,
			Method: MethodOverflow, Route: RouteOther}
		t.addLocked(k, n, netip.Addr{}, now)
	}
	t.last, t.lastOver = d.Tuples, d.Overflow
}

func (t *Tally) keyOf(k datapath.DenialKey, r Resolver, now time.Time) Key {
	ri := r.Rule(datapath.RuleVerdict{Rule: k.Rule, Verdict: k.Verdict})
	out := Key{Namespace: ri.Namespace, Policy: ri.Policy, Rule: ri.Rule, Decision: ri.Decision,
		Method: observe.MethodLabel(k.Method), Route: RouteOther}
	if p, ok := r.Pods.Pod(k.Src); ok {
		out.SourceNamespace, out.SourceWorkload = p.Namespace, p.Workload
	}
	if k.PathLen > 0 && k.PathLen <= len(k.Path) {
		var dst netip.Addr
		if r.Endpoint != nil {
			dst, _ = r.Endpoint(k.Endpoint)
		}
		route, max := r.Pods.Route(dst, k.Path)
		out.Route = t.routes.Admit(out.Namespace+"/"+out.Policy, route, max, now)
	}
	return out
}

func (t *Tally) addLocked(k Key, n uint64, src netip.Addr, now time.Time) {
	s := t.series[k]
	if s == nil {
		s = &Series{Key: k, First: now}
		t.series[k] = s
	}
	s.Count += n
	s.Last = now
	if src.IsValid() && len(s.SourceIPs) < maxSourceIPs {
		ip := src.String()
		for _, have := range s.SourceIPs {
			if have == ip {
				return
			}
		}
		s.SourceIPs = append(s.SourceIPs, ip)
	}
}

// Series returns a copy of every series, sorted by key.
func (t *Tally) Series() []Series {
	t.mu.Lock()
	out := make([]Series, 0, len(t.series))
	for _, s := range t.series {
		c := *s
		c.SourceIPs = append([]string(nil), s.SourceIPs...)
		out = append(out, c)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return less(out[i].Key, out[j].Key) })
	return out
}

func less(a, b Key) bool {
	as := [...]string{a.Namespace, a.Policy, a.Rule, a.Decision, a.SourceNamespace, a.SourceWorkload, a.Method, a.Route}
	bs := [...]string{b.Namespace, b.Policy, b.Rule, b.Decision, b.SourceNamespace, b.SourceWorkload, b.Method, b.Route}
	for i := range as {
		if as[i] != bs[i] {
			return as[i] < bs[i]
		}
	}
	return false
}
