// Package v1alpha1 holds the axon.dev/v1alpha1 API: the L7NetworkPolicy
// custom resource that says which sources may send which HTTP requests to
// which workloads.
//
// The same types are read from YAML files in standalone mode (policy/source)
// and from the Kubernetes API in a cluster. Defaults that the API server
// applies from the CRD schema are also applied by Default, so both paths see
// the same objects. ValidatePolicy checks what the schema cannot.
//
// +kubebuilder:object:generate=true
// +groupName=axon.dev
package v1alpha1
