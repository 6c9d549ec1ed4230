package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	decisionsDesc = prometheus.NewDesc("axon_policy_decisions_total",
		"HTTP requests decided on policed endpoints, by the policy rule (or default) that decided them.",
		[]string{"namespace", "policy", "rule", "decision"}, nil)
	dropsDesc = prometheus.NewDesc("axon_drops_total",
		"Requests or packets on policed endpoints denied, dropped or (in audit mode) counted, by reason: "+
			"policy (a rule or default denied), not_http, malformed_request, non_canonical_path, and datapath limits. "+
			"Lost events are not counted here.",
		[]string{"reason"}, nil)
	lostDesc = prometheus.NewDesc("axon_ringbuf_lost_events_total",
		"Events the datapath could not put on the ring buffer because it was full.", nil, nil)
	limitedDesc = prometheus.NewDesc("axon_events_rate_limited_total",
		"Events the datapath did not send because of its per-CPU event rate limit.", nil, nil)
)

// datapathCollector reads the BPF counters at scrape time.
type datapathCollector struct {
	src      Source
	readErrs prometheus.Counter
}

func (c *datapathCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- decisionsDesc
	ch <- dropsDesc
	ch <- lostDesc
	ch <- limitedDesc
}

func (c *datapathCollector) Collect(ch chan<- prometheus.Metric) {
	if ds, err := c.src.Decisions(); err == nil {
		for _, d := range ds {
			ch <- prometheus.MustNewConstMetric(decisionsDesc, prometheus.CounterValue, float64(d.Count),
				d.Namespace, d.Policy, d.Rule, d.Decision)
		}
	} else {
		c.readErrs.Inc()
	}
	if ds, err := c.src.Drops(); err == nil {
		for _, d := range ds {
			ch <- prometheus.MustNewConstMetric(dropsDesc, prometheus.CounterValue, float64(d.Count), d.Reason)
		}
	} else {
		c.readErrs.Inc()
	}
	if l, err := c.src.TelemetryLost(); err == nil {
		ch <- prometheus.MustNewConstMetric(lostDesc, prometheus.CounterValue, float64(l.RingFull))
		ch <- prometheus.MustNewConstMetric(limitedDesc, prometheus.CounterValue, float64(l.RateLimited))
	} else {
		c.readErrs.Inc()
	}
}
