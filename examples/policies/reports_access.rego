# Reports are for the batch jobs; the prober may scrape /metrics.
# Attached to shop/orders:8080 by reports-access.yaml. Input: docs/semantics.md
# (method, path, source{namespace, labels, ip}, destination).
package axon.examples.reports_access

import rego.v1

# Reports are read by the jobs namespace only, whatever other policies allow.
deny if {
	startswith(input.path, "/api/v1/reports")
	not input.source.namespace == "jobs"
}

# The prober scrapes the metrics endpoint.
allow if {
	input.method == "GET"
	input.path == "/metrics"
	input.source.namespace == "shop"
	input.source.labels.app == "prober"
}
