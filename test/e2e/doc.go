// Package e2e tests the axon-agent binary end to end: real network
// namespaces on a bridge, a real HTTP server, real curl and Go clients, the
// real BPF datapath and policies read from a directory.
package e2e
