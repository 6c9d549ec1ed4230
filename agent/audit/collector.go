package audit

import "github.com/prometheus/client_golang/prometheus"

var deniedDesc = prometheus.NewDesc("axon_policy_denied_requests_total",
	"Requests denied (deny) or that would be denied (audit_deny), counted exactly, by the rule that decided them, "+
		"the source pod's namespace and workload (empty: not a known pod), method and route. Summed over the "+
		"source, method and route labels they equal axon_policy_decisions_total's deny and audit_deny counts.",
	[]string{"namespace", "policy", "rule", "decision", "source_namespace", "source_workload", "method", "route"}, nil)

// Collector exposes a tally as axon_policy_denied_requests_total. Refresh,
// if set, is called first to bring the tally up to date.
type Collector struct {
	Tally   *Tally
	Refresh func()
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- deniedDesc }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.Refresh != nil {
		c.Refresh()
	}
	for _, s := range c.Tally.Series() {
		ch <- prometheus.MustNewConstMetric(deniedDesc, prometheus.CounterValue, float64(s.Count),
			s.Namespace, s.Policy, s.Rule, s.Decision, s.SourceNamespace, s.SourceWorkload, s.Method, s.Route)
	}
}
