// Command axon is Axon's command-line tool for policy authors: it compiles a
// policy directory, runs its Rego tests and sample requests, and explains
// the decision for one request; against running agents, it tails their
// events, reports what Audit-mode policies would deny, and shows live
// decisions and RED per workload.
//
//	axon policy compile DIR
//	axon policy test DIR
//	axon policy explain DIR --from SRC --to HOST:PORT "METHOD TARGET"
//	axon observe --agent URL... [filters]
//	axon audit report --agent URL...
//	axon top --agent URL...
//
// DIR is a standalone-mode policy directory (see examples/policies/README.md).
// Decisions come from the compiled table's reference evaluator, the model of
// what the kernel does. The agent commands read the agents' /v1/events,
// /v1/denials and /metrics (docs/audit-workflow.md); without --agent they
// find the agent pods of the cluster kubectl would use (discover.go).
package main
