package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Decision values of the decision label.
const (
	DecisionAllow     = "allow"
	DecisionDeny      = "deny"
	DecisionAuditDeny = "audit_deny"
)

// Decision is a cumulative count of one verdict against one rule.
// Rule is the rule index in spec.rules, or "default" for defaultAction.
type Decision struct {
	Namespace, Policy, Rule, Decision string
	Count                             uint64
}

// Source reads the datapath's counters. Counts must be cumulative over the
// agent's life (monotonic), whatever happens to the BPF maps underneath.
type Source interface {
	Decisions() ([]Decision, error)
	// Drops counts requests or packets by the reason they were denied,
	// dropped or (in audit mode) counted: policy, non_canonical_path,
	// malformed_request, not_http and the datapath's other reasons.
	Drops() ([]Drop, error)
	RingbufLost() (uint64, error)
}

// Drop is a cumulative count for one reason.
type Drop struct {
	Reason string
	Count  uint64
}

// Agent holds the health metrics the agent updates directly.
type Agent struct {
	LoadErrors   *prometheus.CounterVec // policy loads that failed, by stage
	BrokenFiles  prometheus.Gauge       // files the last load could not use
	LoadOK       prometheus.Gauge       // 1 when the last load was applied
	DirOK        prometheus.Gauge       // 1 while the policy directory can be read
	TableRows    *prometheus.GaugeVec   // rows of the table in force, by kind
	MapUpdate    prometheus.Histogram   // time to write a table into the maps
	Generation   prometheus.Gauge       // generation of the table in force
	Attached     *prometheus.GaugeVec   // 1 per attached interface and direction
	AttachErrs   prometheus.Counter     // attach attempts that failed
	Pruned       prometheus.Counter     // attachments removed from interfaces no longer named
	Flows        prometheus.Gauge       // connections to policed endpoints with state in the flow table
	FlowsExpired prometheus.Counter     // flows deleted because their connection ended or idled out
	Enforcing    prometheus.Gauge       // 1 when programs are attached and a policy is in the maps
	ReadErrors   prometheus.Counter     // failed reads of BPF counters at scrape time
	Events       *prometheus.CounterVec // deny and audit_deny events read from the ring buffer
	StreamMissed prometheus.Counter     // events subscribers of /v1/events missed (slow readers)
}

// New registers the agent metrics and the datapath collector on a fresh
// registry, along with the Go runtime and process collectors.
func New(src Source) (*prometheus.Registry, *Agent) {
	a := &Agent{
		LoadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "axon_policy_load_errors_total",
			Help: "Policy directory loads that failed and were not applied, by stage (source, compile, apply).",
		}, []string{"stage"}),
		BrokenFiles: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "axon_policy_broken_files",
			Help: "Policy files the last load rejected; the last good policy stays in force while this is non-zero.",
		}),
		LoadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "axon_policy_last_load_ok",
			Help: "1 when the last load of the policy directory was applied, 0 when it failed.",
		}),
		DirOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "axon_policy_dir_readable",
			Help: "1 while the policy directory can be read, 0 while it cannot (missing, no permission); the policy in force stays meanwhile.",
		}),
		TableRows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "axon_policy_table_rows",
			Help: "Rows of the decision table in force, by kind.",
		}, []string{"kind"}),
		MapUpdate: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "axon_map_update_duration_seconds",
			Help:    "Time to write a compiled table into the BPF maps and flip the generation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		Generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "axon_policy_generation",
			Help: "Number of policy sets applied since the agent started.",
		}),
		Attached: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "axon_attached",
			Help: "1 when Axon's program is attached to the interface in the direction, 0 when it should be and is not.",
		}, []string{"interface", "direction", "mode"}),
		AttachErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "axon_attach_errors_total",
			Help: "Failed attempts to attach a program to an interface.",
		}),
		Pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "axon_attachments_pruned_total",
			Help: "Pinned attachments removed because their interface is no longer in the attach list (that interface is no longer enforced).",
		}),
		Flows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "axon_flows",
			Help: "Connections to policed endpoints whose state is in the flow table (at the last expiry pass).",
		}),
		FlowsExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "axon_flows_expired_total",
			Help: "Flows deleted because their connection ended or was idle too long.",
		}),
		Enforcing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "axon_enforcing",
			Help: "1 when programs are attached to every named interface and a policy set is in the maps.",
		}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "axon_events_total",
			Help: "Deny and audit_deny events read from the datapath's ring buffer (rate-limited; decisions_total is exact).",
		}, []string{"decision"}),
		StreamMissed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "axon_event_stream_missed_total",
			Help: "Events not sent to a subscriber of /v1/events because its buffer was full (a slow reader); each subscriber is told its own count in-stream.",
		}),
		ReadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "axon_datapath_read_failures_total",
			Help: "Failed reads of BPF counters while collecting metrics.",
		}),
	}
	reg := prometheus.NewRegistry()
	// Every stage is exposed from the start, so rate() and alerts see the
	// first failure as an increase from 0, not as a new series.
	for _, stage := range []string{"source", "compile", "apply"} {
		a.LoadErrors.WithLabelValues(stage)
	}
	reg.MustRegister(a.LoadErrors, a.BrokenFiles, a.LoadOK, a.DirOK, a.TableRows, a.MapUpdate,
		a.Generation, a.Attached, a.AttachErrs, a.Pruned, a.Flows, a.FlowsExpired, a.Enforcing, a.ReadErrors, a.Events, a.StreamMissed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src != nil {
		reg.MustRegister(&datapathCollector{src: src, readErrs: a.ReadErrors})
	}
	return reg, a
}
