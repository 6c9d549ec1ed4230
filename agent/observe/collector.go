package observe

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets are OpenTelemetry's recommended boundaries for
// http.server.request.duration and http.client.request.duration, seconds.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// SizeBuckets are OpenTelemetry's default explicit bucket boundaries, used
// for the body-size histograms in bytes.
var SizeBuckets = []float64{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}

// DefaultExpiry is how long a series (and a route slot) lives unused.
const DefaultExpiry = 10 * time.Minute

// Workload is a monitored pod's identity and its monitor's settings.
type Workload struct {
	Namespace string
	Name      string    // the workload: owner, the pod's "workload" label, or the pod name
	Routes    *Template // the monitor's route globs; nil: heuristic only
	MaxRoutes int       // 0: DefaultMaxRoutes
	Ports     []uint16  // server ports observed; empty: all
}

// Resolver maps what the kernel reports to pods.
type Resolver interface {
	// ByNetns returns the monitored workload whose pod owns the network
	// namespace with that inode.
	ByNetns(inum uint32) (Workload, bool)
	// ByIP returns the namespace and workload of the pod with that IP.
	ByIP(ip netip.Addr) (namespace, workload string, ok bool)
}

type seriesKey struct {
	side                  Side
	ns, wl, method, route string
	status, srcNs, srcWl  string
}

type hist struct {
	counts []uint64 // per bucket, not cumulative; last is +Inf
	sum    float64
	n      uint64
}

func newHist(b []float64) *hist { return &hist{counts: make([]uint64, len(b)+1)} }

func (h *hist) observe(b []float64, v float64) {
	i, _ := slices.BinarySearch(b, v) // first bound >= v: le semantics
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *hist) metric(d *prometheus.Desc, b []float64, labels []string) prometheus.Metric {
	cum := make(map[float64]uint64, len(b))
	var c uint64
	for i, ub := range b {
		c += h.counts[i]
		cum[ub] = c
	}
	m, err := prometheus.NewConstHistogram(d, h.n, h.sum, cum, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

type series struct {
	dur, reqSize, respSize *hist
	seen                   time.Time
}

// Collector aggregates exchanges into the RED metrics and counts losses.
// It is the pairer's Sink and a prometheus.Collector.
type Collector struct {
	res    Resolver
	routes *Routes
	onX    func(Workload, Exchange) // OnExchange
	expiry time.Duration
	now    func() time.Time
	bpf    func() ([numStats]uint64, error)

	mu         sync.Mutex
	series     map[seriesKey]*series
	unanswered map[[3]string]uint64
	losses     map[string]uint64
	routeKeys  map[workloadSide]string
	unknown    uint64

	serverDur, clientDur, reqSize, respSize *prometheus.Desc
	unansweredD, lossD, eventsD, unknownD   *prometheus.Desc
}

// NewCollector returns a collector resolving pods with res. bpfStats, if
// not nil, reads the BPF program's counters at scrape time.
func NewCollector(res Resolver, bpfStats func() ([numStats]uint64, error)) *Collector {
	server := []string{"namespace", "workload", "method", "route", "status_code", "source_namespace", "source_workload"}
	client := []string{"namespace", "workload", "method", "route", "status_code"}
	return &Collector{
		res: res, routes: NewRoutes(), expiry: DefaultExpiry, now: time.Now, bpf: bpfStats,
		series: map[seriesKey]*series{}, unanswered: map[[3]string]uint64{}, losses: map[string]uint64{},
		routeKeys: map[workloadSide]string{},
		serverDur: prometheus.NewDesc("http_server_request_duration_seconds",
			"Duration of HTTP server requests seen at the socket: request read to response head written (OpenTelemetry http.server.request.duration).", server, nil),
		clientDur: prometheus.NewDesc("http_client_request_duration_seconds",
			"Duration of HTTP client requests seen at the socket: request head written to response head read (OpenTelemetry http.client.request.duration).", client, nil),
		reqSize: prometheus.NewDesc("http_server_request_body_size_bytes",
			"Request body sizes from Content-Length, requests without one are not observed (OpenTelemetry http.server.request.body.size).", server, nil),
		respSize: prometheus.NewDesc("http_server_response_body_size_bytes",
			"Response body sizes from Content-Length, responses without one are not observed (OpenTelemetry http.server.response.body.size).", server, nil),
		unansweredD: prometheus.NewDesc("axon_http_unanswered_requests_total",
			"Requests still waiting for a response when their connection was closed, by side.", []string{"namespace", "workload", "side"}, nil),
		lossD: prometheus.NewDesc("axon_http_observer_lost_total",
			"HTTP messages or events the observer could not count, by reason.", []string{"reason"}, nil),
		eventsD: prometheus.NewDesc("axon_http_observer_events_total",
			"Ring-buffer events the socket observer sent.", nil, nil),
		unknownD: prometheus.NewDesc("axon_http_observer_unattributed_total",
			"Exchanges from a network namespace no monitored pod owns (any more).", nil, nil),
	}
}

var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true}

// MethodLabel is the method label value of a request: the method if it is
// one of HTTP's standard methods, else "_OTHER" (OpenTelemetry's rule).
func MethodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "_OTHER"
}

// RouteOf is the route of path before any cap: the first of routes' globs
// that matches, else the Collapse heuristic. The path is whatever a peer
// sent: the result is made valid UTF-8, as label values must be.
func RouteOf(routes *Template, path string) string {
	path = strings.ToValidUTF8(path, "\uFFFD")
	if r, ok := routes.Match(path); ok {
		return r
	}
	return Collapse(path)
}

// OnExchange makes the collector call fn with every exchange of a monitored
// pod (on the observer's reading goroutine: fn must not block). Set it
// before the observer runs.
func (c *Collector) OnExchange(fn func(Workload, Exchange)) { c.onX = fn }

// Exchange records one exchange.
func (c *Collector) Exchange(x Exchange) {
	w, ok := c.res.ByNetns(x.Netns)
	if ok && c.onX != nil {
		c.onX(w, x)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		c.unknown++
		return
	}
	if x.Side == Server && len(w.Ports) > 0 && !slices.Contains(w.Ports, x.Local.Port()) {
		return // not a monitored server port
	}
	now := x.At
	if now.IsZero() {
		now = c.now()
	}
	route := c.routes.Admit(c.routeKey(x.Side, w), RouteOf(w.Routes, x.Path), w.MaxRoutes, now)
	method := MethodLabel(x.Method)
	k := seriesKey{side: x.Side, ns: w.Namespace, wl: w.Name, method: method, route: route, status: statusLabel(x.Status)}
	if x.Side == Server {
		if ns, wl, ok := c.res.ByIP(x.Peer.Addr()); ok {
			k.srcNs, k.srcWl = ns, wl
		}
	}
	s := c.series[k]
	if s == nil {
		s = &series{dur: newHist(DurationBuckets)}
		if x.Side == Server {
			s.reqSize, s.respSize = newHist(SizeBuckets), newHist(SizeBuckets)
		}
		c.series[k] = s
	}
	s.seen = now
	s.dur.observe(DurationBuckets, x.Duration.Seconds())
	if x.Side == Server {
		if x.ReqLen >= 0 {
			s.reqSize.observe(SizeBuckets, float64(x.ReqLen))
		}
		if x.RespLen >= 0 {
			s.respSize.observe(SizeBuckets, float64(x.RespLen))
		}
	}
}

// routeKey is the key of side's routes of workload w in c.routes (cached:
// it is built once per workload, not per exchange). c.mu is held.
func (c *Collector) routeKey(side Side, w Workload) string {
	k := workloadSide{side: side, ns: w.Namespace, wl: w.Name}
	key, ok := c.routeKeys[k]
	if !ok {
		key = side.String() + "/" + w.Namespace + "/" + w.Name
		c.routeKeys[k] = key
	}
	return key
}

type workloadSide struct {
	side   Side
	ns, wl string
}

// statusLabels are the status_code values of the valid codes 100-999, made
// once.
var statusLabels = func() []string {
	l := make([]string, 1000)
	for i := 100; i < len(l); i++ {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func statusLabel(code int) string {
	if code >= 100 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}

// Unanswered counts requests left without a response at close.
func (c *Collector) Unanswered(side Side, netns uint32, n int) {
	w, ok := c.res.ByNetns(netns)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		c.unknown += uint64(n)
		return
	}
	c.unanswered[[3]string{w.Namespace, w.Name, side.String()}] += uint64(n)
}

// Loss counts n losses of one reason.
func (c *Collector) Loss(reason string, n int) {
	c.mu.Lock()
	c.losses[reason] += uint64(n)
	c.mu.Unlock()
}

// Describe sends the descriptors.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.serverDur, c.clientDur, c.reqSize, c.respSize, c.unansweredD, c.lossD, c.eventsD, c.unknownD} {
		ch <- d
	}
}

// Collect expires stale series and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	losses := map[string]uint64{}
	var events uint64
	if c.bpf != nil {
		if st, err := c.bpf(); err == nil {
			losses["ringbuf_full"] = st[StatRingbufFull]
			losses["held_full"] = st[StatHeldFull]
			losses["read_fault"] = st[StatReadFault]
			events = st[StatEvents]
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cut := c.now().Add(-c.expiry)
	c.routes.Expire(cut)
	clear(c.routeKeys) // a cache: workloads gone since are forgotten
	for k, s := range c.series {
		if s.seen.Before(cut) {
			delete(c.series, k)
			continue
		}
		if k.side == Client {
			ch <- s.dur.metric(c.clientDur, DurationBuckets, []string{k.ns, k.wl, k.method, k.route, k.status})
			continue
		}
		l := []string{k.ns, k.wl, k.method, k.route, k.status, k.srcNs, k.srcWl}
		ch <- s.dur.metric(c.serverDur, DurationBuckets, l)
		if s.reqSize.n > 0 {
			ch <- s.reqSize.metric(c.reqSize, SizeBuckets, l)
		}
		if s.respSize.n > 0 {
			ch <- s.respSize.metric(c.respSize, SizeBuckets, l)
		}
	}
	for k, v := range c.unanswered {
		ch <- prometheus.MustNewConstMetric(c.unansweredD, prometheus.CounterValue, float64(v), k[0], k[1], k[2])
	}
	for _, r := range []string{LossSeqGap, LossTruncated, LossUnparsable, LossUnmatched, LossPendingTooMany, LossExpired} {
		losses[r] += c.losses[r]
	}
	for r, v := range losses {
		ch <- prometheus.MustNewConstMetric(c.lossD, prometheus.CounterValue, float64(v), r)
	}
	ch <- prometheus.MustNewConstMetric(c.eventsD, prometheus.CounterValue, float64(events))
	ch <- prometheus.MustNewConstMetric(c.unknownD, prometheus.CounterValue, float64(c.unknown))
}
