// Command e2e is the side-by-side benchmark behind `make bench-e2e`: wrk
// against nginx in network namespaces with no agent (A), with Axon enforcing
// 1,000 rules (B) and 10 rules (B10), with Axon and the socket observer (C),
// and through an HAProxy ACL proxy with the same rules (D, D10), in
// interleaved rounds; the kernel cost per run of each Axon program from
// bpf_stats; the control plane's delay from a policy file change to the new
// generation in the kernel; the agent's peak RSS and the decision maps' kernel
// memory at about 10,000 and 1,000,000 path rows (the second with the
// agent's --max-path-rows and --max-source-classes raised). It
// writes bench/RESULTS.md. Run it as root through scripts/bench-e2e.sh.
package main
