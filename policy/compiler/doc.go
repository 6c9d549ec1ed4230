// Package compiler turns L7NetworkPolicies (and the Rego modules they
// reference) into a decision table (policy/table) by partial evaluation of
// the Rego library in policy/rego. The table package decides requests from
// it as the datapath does.
//
// # Pipeline
//
// Compile finds the policed endpoints (selected pod IP x port), partially
// evaluates the library with input.method, input.path and input.source
// unknown, and translates each residual query (one rule, under a conjunction
// of tests) into the table. Rules of L7NetworkPolicies are evaluated by part
// (parts.go): each distinct from part (from_matches) and http part
// (http_matches) once, many parts to one evaluation, a rule's queries being
// the products of its parts'; Rego policies are evaluated whole
// (data.axon.authz.matched[x]) once per destination. In the table, source
// tests become per-endpoint source classes over the identities, method tests
// become method slots, path tests become rows of a longest-prefix trie per
// (endpoint, class, method) with the rules each row matches already combined (docs/semantics.md "Decision" is resolved at
// compile time). WithPrevious keeps IDs stable across compilations and
// WithCache reuses the partial evaluation of unchanged parts and policies.
//
// # Supported Rego fragment
//
// Residual conditions may use: input.method == "M", input.method in {...}
// (and != / not); input.path == "/p", startswith(input.path, "/p"),
// glob.match("pattern", ["/"], input.path) with patterns of the documented
// glob subset; input.source.namespace (present only for known pods),
// == "ns" and in {...}; input.source.labels (present, possibly empty, for
// known pods); object.subset(input.source.labels, {"k": "v", ...});
// input.source.labels.k (present), == "v", in {...}; net.cidr_contains(
// "cidr", input.source.ip); and `not` of each of those except glob.match. At
// most one glob per condition. Anything else (other built-ins, comparisons of
// input.source.ip, negations partial evaluation cannot inline, `with`) is an
// *Error naming the module's file and line, the construct and a hint. A CIDR
// test that splits the IPs of pods with the same labels is also an error.
// (object.subset of several labels may not be negated.) As in OPA, `not` of
// a call (in, object.subset) on a source attribute is false where the
// attribute is absent; `not` of == is true there. Modules may not read the
// library's state under data.axon other than data.axon.namespaces.
//
// # Policies written in Rego
//
// spec.rego modules are loaded under data.axon.user["namespace/name"]. Their
// `deny` rules are the policy's rule 0 (action Deny) and their `allow` rules
// its rule 1 (action Allow); spec.defaultAction decides the rest.
// `default allow := false` and `default deny := false` are accepted (they
// change nothing); other defaults for allow or deny are errors.
package compiler
