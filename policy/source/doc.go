// Package source reads a policy directory (standalone mode): Kubernetes
// objects in YAML files and Rego modules, checked and positioned so that
// every problem names a file and line. FromObjects checks the objects the
// agent reads from the API server (cluster mode) the same way, positioned
// at "cluster/<resource>/<namespace>/<name>".
//
// YAML files (.yaml, .yml, several documents per file, or a kind: List as
// `kubectl get -o yaml` prints) may hold v1 Namespace, v1 Pod, v1 ConfigMap
// (Rego modules for spec.rego.configMapRef) and axon.dev/v1alpha1
// L7NetworkPolicy objects. Other kinds are reported as
// warnings and skipped. Policies are defaulted like the API server would and
// validated with api/v1alpha1/validation; invalid policies are reported and
// left out. Policies carry their file:line in annotations
// (v1alpha1.AnnotationOrigin, AnnotationRuleOrigins). Rego files (.rego) are
// modules a policy can name in spec.rego.file; *_test.rego files are tests.
// Sample request files (samples.yaml, *.samples.yaml) are read by
// LoadSamples, not by Load.
package source
