package axon.examples.reports_access_test

import rego.v1

import data.axon.examples.reports_access

web := {"namespace": "shop", "labels": {"app": "web"}, "ip": "10.77.0.20"}

batch := {"namespace": "jobs", "labels": {"app": "batch"}, "ip": "10.77.0.30"}

prober := {"namespace": "shop", "labels": {"app": "prober"}, "ip": "10.77.0.40"}

world := {"ip": "10.77.0.1"}

orders := {"namespace": "shop", "labels": {"app": "orders"}, "port": 8080}

req(method, path, source) := {"method": method, "path": path, "source": source, "destination": orders}

test_web_cannot_read_reports if {
	reports_access.deny with input as req("GET", "/api/v1/reports/daily", web)
}

test_external_cannot_read_reports if {
	reports_access.deny with input as req("GET", "/api/v1/reports", world)
}

test_batch_reads_reports if {
	not reports_access.deny with input as req("GET", "/api/v1/reports/daily", batch)
}

test_other_paths_not_denied if {
	not reports_access.deny with input as req("GET", "/api/v1/orders", web)
}

test_prober_scrapes_metrics if {
	reports_access.allow with input as req("GET", "/metrics", prober)
}

test_only_prober_scrapes_metrics if {
	not reports_access.allow with input as req("GET", "/metrics", web)
	not reports_access.allow with input as req("GET", "/metrics", world)
	not reports_access.allow with input as req("POST", "/metrics", prober)
}
