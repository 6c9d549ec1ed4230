// Package rego holds the Axon authorization library in Rego, the reference
// statement of docs/semantics.md that the compiler partially evaluates.
//
// The library's entry points are data.axon.authz.decision (the final
// verdict), data.axon.authz.matched (the rules a request matches) and
// data.axon.authz.policed. Its data is data.axon.policies (L7NetworkPolicy
// objects as JSON, defaults filled in) and data.axon.namespaces (namespace
// name -> labels); policies written in Rego are loaded under
// data.axon.user["<namespace>/<name>"].
package rego
