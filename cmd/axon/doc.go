// Command axon is Axon's command-line tool for policy authors: it compiles a
// policy directory, runs its Rego tests and sample requests, and explains
// the decision for one request.
//
//	axon policy compile DIR
//	axon policy test DIR
//	axon policy explain DIR --from SRC --to HOST:PORT "METHOD TARGET"
//
// DIR is a standalone-mode policy directory (see examples/policies/README.md).
// Decisions come from the compiled table's reference evaluator, the model of
// what the kernel does.
package main
