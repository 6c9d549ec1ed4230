// Package cluster tests the agent's cluster mode on a real kube-apiserver
// and etcd (envtest) with two "nodes" on this machine: two network
// namespaces, each with its own pods (network namespaces on a bridge inside
// it) and its own axon-agent process in cluster mode with its own pin
// directory, joined by a routed link so that pods talk across nodes. The
// Node and Pod objects in the API server carry the same IPs and nodeNames.
// Every request is real (Go net/http from a pod's namespace to a recording
// server in another), and every denied request is checked against the
// server's own log.
//
// Addresses: pods 10.96.0.0/16 (node N has 10.96.N.0/24 on its bridge), the
// link between the nodes 10.97.0.0/30.
package cluster
