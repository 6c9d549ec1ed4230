// Package kernels runs Axon's BPF test binaries on several Linux kernels: it builds static
// test binaries and a static init, packs them with the kernel's TC modules into an
// initramfs, boots each cached Debian kernel under QEMU (TCG) and reads one result line
// per test binary from the serial console; the same binaries also run on the host kernel.
//
// Kernels are fetched by scripts/kernels/fetch.sh; the entry point is scripts/kernels/test.sh
// (make test-kernels), which runs the command in test/kernels/cmd/kernelmatrix.
package kernels
