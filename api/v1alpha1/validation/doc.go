// Package validation checks L7NetworkPolicy objects for what the CRD schema
// cannot express: canonical path patterns, the glob subset, CIDR ranges,
// method tokens and one-of constraints.
//
// The functions are pure: they return a field.ErrorList (the policy is
// rejected) and warnings (it is accepted, but probably not what the author
// meant). The admission webhook and `axon policy compile` are thin adapters
// around them. Checks repeat the schema's enums and one-of rules because
// standalone mode reads policies from files that no API server has seen.
package validation
