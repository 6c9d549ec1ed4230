// Package webhook is Axon's validating admission webhook: it refuses
// L7NetworkPolicy objects that cannot be enforced, with a field.ErrorList
// whose paths name the field (spec.rules[2].http[0].paths[1].glob) or, for
// Rego, the module and line, and admits risky but valid ones with admission
// warnings.
//
// Validation is pure: ValidateL7NetworkPolicy runs the checks of
// api/v1alpha1/validation and then the compiler (policy/compiler), the two
// steps `axon policy compile` runs on a policy folder, on the one object.
// The handler around it only decodes the request, reads the ConfigMap a
// policy's Rego lives in, and turns the result into an admission response.
// Register puts every kind's handler on a controller-runtime webhook server,
// which serves TLS from a certificate directory and reloads the files when
// they change. SetAccepted turns a validation result into the policy's
// Accepted condition for whoever writes status. docs/webhook.md covers
// deployment and failurePolicy.
package webhook
