// Package verifier holds BPF programs whose acceptance depends on the kernel's verifier,
// run by the kernel matrix: copy_masked is written to load on every supported kernel, and
// copy_bounded (build tag kernelfail, see docs/kernels.md) is the same copy written the
// way that only newer verifiers accept, kept to show the matrix catches such a change.
package verifier
