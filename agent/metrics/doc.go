// Package metrics defines Axon's Prometheus metrics: decision and drop
// counters read from the datapath's BPF maps at scrape time by a custom
// collector, and the agent's own health gauges and counters.
package metrics
