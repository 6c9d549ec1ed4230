package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Series the Policy dashboard reads. decisions counts every request a
// policy decided, by rule; denied counts each denied and audit_denied
// request exactly by caller and route.
const (
	decisions = `axon_policy_decisions_total{namespace=~"$namespace", policy=~"$policy"`
	denied    = `axon_policy_denied_requests_total{namespace=~"$namespace", policy=~"$policy", source_workload=~"$source"`
)

// policyDashboard: what the policies decide, who is denied on which route,
// and what an Audit-mode policy would break if it were enforced.
func policyDashboard() *dashboard.DashboardBuilder {
	rate := func(sel, by string) string {
		return "sum by (" + by + ") (rate(" + sel + "}[$__rate_interval]))"
	}
	return newDashboard("axon-policy", "Axon / Policy",
		"Decisions of Axon's L7 HTTP policies: allow, deny and audit_deny by namespace, policy, rule and calling workload; "+
			"the routes denied most; and, for Audit-mode policies, the callers and routes enforcement would break.").
		WithVariable(labelVar("namespace", "Namespace", "axon_policy_decisions_total", "namespace")).
		WithVariable(labelVar("policy", "Policy", `axon_policy_decisions_total{namespace=~"$namespace"}`, "policy")).
		WithVariable(labelVar("source", "Source workload", `axon_policy_denied_requests_total{namespace=~"$namespace", policy=~"$policy"}`, "source_workload")).
		WithRow(dashboard.NewRowBuilder("Decisions")).
		WithPanel(single("Allowed", "Requests per second the selected policies allowed.", "reqps", 0,
			query("sum(rate("+decisions+`, decision="allow"}[$__rate_interval]))`, "allowed"))).
		WithPanel(single("Denied", "Requests per second reset by Enforce-mode policies.", "reqps", 0,
			query("sum(rate("+decisions+`, decision="deny"}[$__rate_interval]))`, "denied"))).
		WithPanel(single("Audit would deny", "Requests per second that Audit-mode policies passed but would deny if enforced.", "reqps", 0,
			query("sum(rate("+decisions+`, decision="audit_deny"}[$__rate_interval]))`, "would deny"))).
		WithPanel(single("Share denied", "Denied and would-deny requests as a share of all decided requests.", "percentunit", 0,
			query("sum(rate("+decisions+`, decision!="allow"}[$__rate_interval])) / sum(rate(`+decisions+"}[$__rate_interval]))", "denied"))).
		WithPanel(graph("Decisions by verdict", "Requests per second by decision.", "reqps", 12,
			query(rate(decisions, "decision"), "{{decision}}"))).
		WithPanel(graph("Decisions by policy and rule", "rule is the index in spec.rules, or default for defaultAction.", "reqps", 12,
			query(rate(decisions, "namespace, policy, rule, decision"), "{{namespace}}/{{policy}} rule {{rule}} {{decision}}"))).
		WithRow(dashboard.NewRowBuilder("Who is denied")).
		WithPanel(graph("Denied and would-deny by source workload",
			"Exact counts (not sampled) of denied (deny) and audit-mode (audit_deny) requests by the calling pod's workload; empty source: no known pod.", "reqps", 24,
			query(rate(denied, "source_namespace, source_workload, decision"), "{{source_namespace}}/{{source_workload}} {{decision}}"))).
		WithPanel(tableOf("Top denied routes",
			"The 20 (policy, rule, method, route) most denied over the dashboard's time range; routes are templated (numbers and ids as *) so their number stays bounded.",
			nil, map[string]string{"Value": "denied"},
			instant("topk(20, sum by (namespace, policy, rule, method, route) (increase("+denied+`, decision="deny"}[$__range])))`, "A"))).
		WithRow(dashboard.NewRowBuilder("Audit: what would break if enforced")).
		WithPanel(tableOf("What would break if I enforced this",
			"Every (caller, method, route) an Audit-mode policy passed but would have denied, with exact counts over the dashboard's time range. "+
				"Empty for an Audit-mode policy that saw traffic: enforcing it denies nothing that was seen.",
			nil, map[string]string{"Value": "would deny"},
			instant("sort_desc(sum by (namespace, policy, rule, source_namespace, source_workload, method, route) (increase("+denied+`, decision="audit_deny"}[$__range])))`, "A"))).
		WithPanel(graph("Audit would-deny by policy and rule", "Requests per second Audit-mode policies would deny, by rule.", "reqps", 24,
			query(rate(decisions+`, decision="audit_deny"`, "namespace, policy, rule"), "{{namespace}}/{{policy}} rule {{rule}}")))
}
