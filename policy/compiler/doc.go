// Package compiler turns L7NetworkPolicies and Rego modules into a decision
// Table by OPA partial evaluation, with all precedence resolved ahead of time,
// and decides requests from a Table as the kernel does (the reference evaluator).
package compiler
