// Package observe is Axon's socket-level HTTP observer: it loads the
// tracepoint programs of bpf/axon_sock.c (the kernel's socket tracepoints,
// or sys_exit on kernels before 6.3), tells them which network namespaces
// to watch, reads the HTTP/1.x message starts they capture from the ring
// buffer in batches (ring.go), pairs requests with responses per connection and turns
// them into OpenTelemetry-named Prometheus metrics (RED: rate, errors,
// duration) per workload and route. docs/observability.md has the design.
package observe
