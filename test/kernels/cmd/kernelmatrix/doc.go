// Command kernelmatrix runs Axon's BPF test packages on the host kernel and on each cached
// Debian kernel under QEMU, prints a pass/fail table per kernel and exits non-zero if any
// kernel fails. scripts/kernels/test.sh (make test-kernels) fetches the kernels and runs it.
package main
