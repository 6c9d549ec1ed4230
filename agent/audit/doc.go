// Package audit turns the datapath's exact deny and audit_deny tallies into
// bounded, cumulative series per policy rule, source workload, method and
// route (axon_policy_denied_requests_total and the agent's /v1/denials), the
// data behind `axon audit report`. Sources are named by the observer's
// workload rule and routes by its templates and heuristic (agent/observe).
// docs/audit-workflow.md has the design.
package audit
