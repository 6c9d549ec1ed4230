// Package controller will reconcile L7NetworkPolicies, Pods and Namespaces
// from a Kubernetes API server into the compiler's input for the agents.
//
// It is not written yet: today the agent runs in standalone mode, reading the
// same objects from a policy folder (see policy/source).
package controller
