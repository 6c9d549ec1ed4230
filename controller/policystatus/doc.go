// Package policystatus writes the status of L7NetworkPolicy objects: the
// Accepted condition (the policy compiles, re-checked when the ConfigMap
// holding its Rego module changes) and the Enforced condition (every node
// that runs a pod the policy selects has applied this generation, read from
// the nodes' AxonNodeStatus records), with status.nodes "N/M" and
// observedGeneration. docs/controller.md describes the status and the node
// record channel.
package policystatus
