// Package controller is the home of Axon's Kubernetes reconcilers, one
// package each, which cmd/axon-controller registers with one
// controller-runtime manager (leader election, /metrics, health probes):
// policystatus writes each L7NetworkPolicy's Accepted and Enforced status;
// agentset keeps the agent DaemonSet equal to AxonAgent "default" (the
// operator); webhookcert keeps the admission webhook's certificate and
// caBundle. docs/controller.md and docs/install.md describe them.
package controller

// RBAC of leader election (the Lease) and of the events it records.
//
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
