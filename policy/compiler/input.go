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
}

// ConfigMapModuleKey is the Input.Modules key of a module referenced through
// a ConfigMap.
func ConfigMapModuleKey(namespace, configMap, key string) string {
	return namespace + "/" + configMap + "/" + key
}
