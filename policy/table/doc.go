// Package table is the contract between the policy compiler, the Go
// reference evaluator and the datapath: the decision Table the compiler
// fills (policy/compiler), the reference evaluator that decides requests
// from it (Table.Decide, which agrees with OPA, and Table.DecideBounded,
// which is what the kernel decides), glob matching and request-target
// normalization.
//
// agent/datapath encodes a Table into the BPF maps that bpf/ reads. The
// semantics are in docs/semantics.md; the enums and bounds shared with the
// C datapath are named after bpf/shared, generated from
// bpf/include/axon_shared.h. The package does not link OPA.
package table
