// Package promql reads every PromQL expression out of Axon's generated
// dashboards (panel targets and label_values variables) and alerting rules,
// substitutes Grafana's template variables, and derives the probe queries
// that must each return data against a Prometheus scraping a real agent:
// the expression itself (alert thresholds removed) and each of its series
// selectors. A renamed metric or label leaves a probe empty.
package promql
