// Package webhook will validate L7NetworkPolicies at admission by compiling
// them, rejecting bad ones with a message that names the offending field or
// Rego line.
//
// It is not written yet; `axon policy compile` runs the same validation and
// compilation on a policy folder today.
package webhook
