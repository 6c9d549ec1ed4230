// Package agent runs Axon on one node: it loads the policy directory,
// compiles it, writes the table into the datapath's maps, keeps the TC
// programs attached (adopting pinned state from an earlier agent), reloads on
// change, and reports readiness and metrics.
package agent
