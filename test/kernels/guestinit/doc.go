// Command guestinit is the /init of the kernel matrix's test VMs: it mounts the kernel
// filesystems, loads the TC modules, runs each test binary and prints one parseable
// result line per binary on the serial console before powering off.
//
// Output protocol (one line each, parsed by test/kernels):
//
//	AXON-KERNEL <release>
//	AXON-MODULE <file> ok|error <reason>
//	AXON-TEST <name> PASS|FAIL <seconds>s [reason]
//	AXON-DONE pass=<n> fail=<n>
package main
