// Package compiler turns L7NetworkPolicies (and the Rego modules they
// reference) into a decision Table by partial evaluation of the Rego library
// in policy/rego, and decides requests from a Table as the datapath does.
//
// The supported fragment of residual Rego is: equality and set membership on
// input.method; equality, startswith and glob.match (with "/" as the only
// delimiter) on input.path; input.source.namespace and input.source.labels
// tests (presence, equality, set membership) and net.cidr_contains(cidr,
// input.source.ip) on the source; and `not` of any of those, except of a
// glob. Anything else is an *Error naming file, line and construct.
package compiler
