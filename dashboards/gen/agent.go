package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// agentDashboard: per node, is Axon enforcing, are policies loading, how
// fast are maps updated, and is anything lost.
func agentDashboard() *dashboard.DashboardBuilder {
	i := `{instance=~"$instance"}`
	ri := `{instance=~"$instance"}[$__rate_interval]`
	return newDashboard("axon-agent", "Axon / Agent",
		"Health of the Axon agents, one per node: enforcement, policy loads, map update latency, losses.").
		WithVariable(labelVar("instance", "Agent", "axon_enforcing", "instance")).
		WithRow(dashboard.NewRowBuilder("Enforcement")).
		WithPanel(single("Agents enforcing", "Agents with programs attached to every named interface and a policy in the maps.", "none", 0,
			query("sum(axon_enforcing"+i+")", "enforcing"))).
		WithPanel(single("Agents not enforcing", "Agents that expose metrics but do not enforce (/readyz says why).", "none", 1,
			query("count(axon_enforcing"+i+") - sum(axon_enforcing"+i+")", "not enforcing"))).
		WithPanel(single("Policy loads failing", "Agents whose last load of the policy directory failed; the last good policy stays in force.", "none", 1,
			query("count(axon_policy_last_load_ok"+i+") - sum(axon_policy_last_load_ok"+i+")", "failing"))).
		WithPanel(single("Policy directory unreadable", "Agents that cannot read their policy directory.", "none", 1,
			query("count(axon_policy_dir_readable"+i+") - sum(axon_policy_dir_readable"+i+")", "unreadable"))).
		WithPanel(tableOf("Per node", "One row per agent: enforcing (1/0), policy generation, last load applied (1/0), broken files, interfaces attached, flows.",
			nil, map[string]string{"Value #A": "enforcing", "Value #B": "generation", "Value #C": "last load ok", "Value #D": "broken files", "Value #E": "attached", "Value #F": "flows"},
			instant("max by (instance) (axon_enforcing"+i+")", "A"),
			instant("max by (instance) (axon_policy_generation"+i+")", "B"),
			instant("max by (instance) (axon_policy_last_load_ok"+i+")", "C"),
			instant("max by (instance) (axon_policy_broken_files"+i+")", "D"),
			instant("sum by (instance) (axon_attached"+i+")", "E"),
			instant("max by (instance) (axon_flows"+i+")", "F"))).
		WithPanel(graph("Attachments", "Interfaces and directions with Axon's program attached, and those that should be and are not.", "none", 12,
			query("sum by (instance, direction) (axon_attached"+i+")", "{{instance}} {{direction}} attached"),
			query("sum by (instance) (1 - axon_attached"+i+")", "{{instance}} missing"))).
		WithPanel(graph("Attach errors and prunes", "Failed attach attempts; attachments removed because the interface left --attach.", "none", 12,
			query("sum by (instance) (increase(axon_attach_errors_total"+ri+"))", "{{instance}} attach errors"),
			query("sum by (instance) (increase(axon_attachments_pruned_total"+ri+"))", "{{instance}} pruned"))).
		WithRow(dashboard.NewRowBuilder("Policy loads")).
		WithPanel(graph("Load errors by stage", "Policy directory loads that failed and were not applied: source (read, parse), compile, apply (maps).", "none", 8,
			query("sum by (instance, stage) (increase(axon_policy_load_errors_total"+ri+"))", "{{instance}} {{stage}}"))).
		WithPanel(graph("Broken policy files", "Files the last load rejected.", "none", 8,
			query("max by (instance) (axon_policy_broken_files"+i+")", "{{instance}}"))).
		WithPanel(graph("Table rows by kind", "Rows of the decision table in force.", "none", 8,
			query("max by (instance, kind) (axon_policy_table_rows"+i+")", "{{instance}} {{kind}}"))).
		WithPanel(graph("Map update latency", "Time to write a compiled table into the BPF maps and flip the generation (updates over the last hour).", "s", 12,
			query(`histogram_quantile(0.5, sum by (instance, le) (rate(axon_map_update_duration_seconds_bucket{instance=~"$instance"}[1h])))`, "p50 {{instance}}"),
			query(`histogram_quantile(0.99, sum by (instance, le) (rate(axon_map_update_duration_seconds_bucket{instance=~"$instance"}[1h])))`, "p99 {{instance}}"))).
		WithPanel(graph("Flows", "Connections to policed endpoints with state in the flow table, and flows expired per second.", "none", 12,
			query("max by (instance) (axon_flows"+i+")", "{{instance}} flows"),
			query("sum by (instance) (rate(axon_flows_expired_total"+ri+"))", "{{instance}} expired/s"))).
		WithRow(dashboard.NewRowBuilder("Losses")).
		WithPanel(graph("Deny event losses", "Events the datapath could not queue (counters stay exact), and events read by decision.", "none", 8,
			query("sum by (instance) (rate(axon_ringbuf_lost_events_total"+ri+"))", "{{instance}} lost/s"),
			query("sum by (instance, decision) (rate(axon_events_total"+ri+"))", "{{instance}} {{decision}} read/s"))).
		WithPanel(graph("HTTP observer losses", "Messages or events the socket observer could not count, by reason (docs/observability.md).", "none", 8,
			query("sum by (instance, reason) (rate(axon_http_observer_lost_total"+ri+"))", "{{instance}} {{reason}}"))).
		WithPanel(graph("Counter read failures", "Failed reads of BPF counters at scrape time.", "none", 8,
			query("sum by (instance) (rate(axon_datapath_read_failures_total"+ri+"))", "{{instance}}"))).
		WithPanel(graph("Drops by reason", "Requests or packets denied, dropped or (audit) counted by reason: policy, not_http, malformed_request, non_canonical_path, limits.", "pps", 24,
			query("sum by (instance, reason) (rate(axon_drops_total"+ri+"))", "{{instance}} {{reason}}"))).
		WithRow(dashboard.NewRowBuilder("Process")).
		WithPanel(graph("CPU", "CPU seconds per second of the agent process.", "percentunit", 12,
			query("rate(process_cpu_seconds_total"+ri+") and on (instance) axon_enforcing", "{{instance}}"))).
		WithPanel(graph("Memory", "Resident memory of the agent process.", "bytes", 12,
			query("process_resident_memory_bytes"+i+" and on (instance) axon_enforcing", "{{instance}}")))
}
