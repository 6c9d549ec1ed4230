package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/nodegraph"
)

// Socket-level HTTP series of the workloads an HTTPMonitor selects
// (docs/observability.md), filtered by the dashboard's variables.
const (
	served   = `http_server_request_duration_seconds_count{namespace=~"$namespace", workload=~"$workload"`
	buckets  = `http_server_request_duration_seconds_bucket{namespace=~"$namespace", workload=~"$workload"`
	outgoing = `http_client_request_duration_seconds_bucket{namespace=~"$namespace", workload=~"$workload"`
)

// errorRatio is the share of 5xx responses by the by labels, 0 (not
// empty) while there are none.
func errorRatio(by string) string {
	all := "sum by (" + by + ") (rate(" + served + "}[$__rate_interval]))"
	errs := "sum by (" + by + ") (rate(" + served + `, status_code=~"5.."}[$__rate_interval]))`
	return "(" + errs + " or 0 * " + all + ") / " + all
}

// quantile is the q latency quantile from the histogram bkt, by labels.
func quantile(q, bkt, by string) string {
	return "histogram_quantile(" + q + ", sum by (" + by + ", le) (rate(" + bkt + "}[$__rate_interval])))"
}

// servicesDashboard: RED per workload and route from the socket-level
// metrics, and the service graph from the source labels.
func servicesDashboard() *dashboard.DashboardBuilder {
	wl := "namespace, workload"
	route := "namespace, workload, method, route"
	return newDashboard("axon-services", "Axon / Services",
		"Rate, errors and duration of the HTTP traffic of the workloads an HTTPMonitor selects, seen at the socket "+
			"(no change to the services), per workload and route, and who calls whom.").
		WithVariable(labelVar("namespace", "Namespace", "http_server_request_duration_seconds_count", "namespace")).
		WithVariable(labelVar("workload", "Workload", `http_server_request_duration_seconds_count{namespace=~"$namespace"}`, "workload")).
		WithRow(dashboard.NewRowBuilder("Per workload")).
		WithPanel(graph("Requests", "Requests per second served, by workload.", "reqps", 8,
			query("sum by ("+wl+") (rate("+served+"}[$__rate_interval]))", "{{namespace}}/{{workload}}"))).
		WithPanel(graph("Error ratio", "Share of responses with a 5xx status.", "percentunit", 8,
			query(errorRatio(wl), "{{namespace}}/{{workload}}"))).
		WithPanel(graph("Latency", "Server duration: request read to response head written, percentiles from the histogram.", "s", 8,
			query(quantile("0.5", buckets, wl), "p50 {{namespace}}/{{workload}}"),
			query(quantile("0.9", buckets, wl), "p90 {{namespace}}/{{workload}}"),
			query(quantile("0.99", buckets, wl), "p99 {{namespace}}/{{workload}}"))).
		WithRow(dashboard.NewRowBuilder("Per route")).
		WithPanel(graph("Requests by route and status", "Routes are the monitor's templates or ids collapsed to *; past maxRoutes, route=\"other\".", "reqps", 12,
			query("sum by ("+route+", status_code) (rate("+served+"}[$__rate_interval]))", "{{workload}} {{method}} {{route}} {{status_code}}"))).
		WithPanel(graph("Error ratio by route", "Share of 5xx responses per route.", "percentunit", 12,
			query(errorRatio(route), "{{workload}} {{method}} {{route}}"))).
		WithPanel(graph("p99 latency by route", "99th percentile server duration per route.", "s", 12,
			query(quantile("0.99", buckets, route), "{{workload}} {{method}} {{route}}"))).
		WithPanel(graph("Body sizes (p90)", "Request and response bodies with a Content-Length.", "bytes", 12,
			query(quantile("0.9", `http_server_request_body_size_bytes_bucket{namespace=~"$namespace", workload=~"$workload"`, wl), "request {{namespace}}/{{workload}}"),
			query(quantile("0.9", `http_server_response_body_size_bytes_bucket{namespace=~"$namespace", workload=~"$workload"`, wl), "response {{namespace}}/{{workload}}"))).
		WithRow(dashboard.NewRowBuilder("Outgoing calls")).
		WithPanel(graph("Client latency p99", "Monitored workloads as clients: request written to response head read.", "s", 12,
			query(quantile("0.99", outgoing, "namespace, workload, route"), "{{workload}} → {{route}}"))).
		WithPanel(graph("Unanswered requests", "Requests still waiting for a response when the connection closed (a request Axon denied shows here on the client side).", "reqps", 12,
			query(`sum by (namespace, workload, side) (rate(axon_http_unanswered_requests_total{namespace=~"$namespace", workload=~"$workload"}[$__rate_interval]))`, "{{namespace}}/{{workload}} {{side}}"))).
		WithRow(dashboard.NewRowBuilder("Service graph")).
		WithPanel(serviceGraph())
}

// serviceGraph is a node graph of who calls whom: nodes are workloads
// (namespace/workload), edges the request rate from source_* to the
// serving workload. Grafana reads frames with a "source" field as edges.
func serviceGraph() *nodegraph.PanelBuilder {
	calls := `sum by (source_namespace, source_workload, namespace, workload) (rate(http_server_request_duration_seconds_count{namespace=~"$namespace", source_workload!=""}[$__rate_interval]))`
	servers := `sum by (namespace, workload) (rate(http_server_request_duration_seconds_count{namespace=~"$namespace"}[$__rate_interval]))`
	edges := `label_join(label_join(label_join(` + calls + `, "source", "/", "source_namespace", "source_workload"), "target", "/", "namespace", "workload"), "id", " -> ", "source", "target")`
	nodes := `label_join(sum by (id) (label_join(` + servers + `, "id", "/", "namespace", "workload")) or sum by (id) (0 * label_join(` + calls + `, "id", "/", "source_namespace", "source_workload")), "title", "", "id")`
	return nodegraph.NewPanelBuilder().Title("Who calls whom").
		Description("Workloads as nodes (requests per second served), calls as edges (requests per second), from the source_namespace/source_workload labels.").
		Datasource(ds).Span(24).Height(12).
		WithTarget(instant(nodes, "nodes")).
		WithTarget(instant(edges, "edges")).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]bool{"Time": true, "namespace": true, "workload": true, "source_namespace": true, "source_workload": true},
			"renameByName":  map[string]string{"Value #nodes": "mainstat", "Value #edges": "mainstat"},
		}})
}
