package compiler

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// Input is everything a compilation depends on.
type Input struct {
	Namespaces []corev1.Namespace
	// Pods are the known pods: their IPs are pod sources and, when a policy
	// selects them, policed endpoints. Pods without an IP, host-network pods
	// and finished pods are ignored.
	Pods     []corev1.Pod
	Policies []v1alpha1.L7NetworkPolicy
	// Modules holds the text of Rego modules that policies reference by
	// spec.rego.file (key: the file name) or spec.rego.configMapRef (key:
	// "<namespace>/<configmap>/<key>").
	Modules map[string]string
	// Data holds documents the policies' Rego modules may read
	// (data.<key>...), e.g. the data of an OPA bundle; the key "axon" is the
	// library's and refused.
	Data map[string]any
	// DataModules are Rego modules (name -> text) compiled in their own
	// packages beside the policies' modules, so that those may import
	// them, e.g. the modules of an OPA bundle. Packages under data.axon are
	// refused.
	DataModules map[string]string
	// PolicyVersions, when set, identifies each policy's content (key:
	// namespace/name): a policy whose version is the one it had at an
	// earlier compilation with the same Cache is equal to it, so its
	// defaulting, validation and encoding are reused (policy/source sets a
	// hash of the content). Policies without a version are prepared anew.
	PolicyVersions map[string]string
}

// ConfigMapModuleKey is the Input.Modules key of a module referenced through
// a ConfigMap.
func ConfigMapModuleKey(namespace, configMap, key string) string {
	return namespace + "/" + configMap + "/" + key
}
