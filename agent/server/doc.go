// Package server serves the agent's HTTP endpoints: /healthz (the process
// is alive), /readyz (enforcing: programs attached and a policy set in the
// maps) and /metrics (Prometheus).
package server
