package v1alpha1

// Annotations that record where a policy was written, set by policy/source
// when it reads a policy from a file, so that compiled rules and errors can
// point at file:line. Objects from the API server have neither.
const (
	// AnnotationOrigin is "file:line" of the policy's document, with file
	// relative to the policy directory, e.g. "api-allowlist.yaml:1".
	AnnotationOrigin = "axon.dev/origin"
	// AnnotationRuleOrigins is a comma-separated "file:line" per entry of
	// spec.rules, in order, e.g. "api.yaml:14,api.yaml:22".
	AnnotationRuleOrigins = "axon.dev/rule-origins"
)
