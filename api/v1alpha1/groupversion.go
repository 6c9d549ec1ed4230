package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of this package.
	GroupVersion = schema.GroupVersion{Group: "axon.dev", Version: "v1alpha1"}

	// SchemeBuilder registers this package's types in a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind is the kind of the policy resource.
const Kind = "L7NetworkPolicy"

// GroupVersionKind returns axon.dev/v1alpha1, Kind=L7NetworkPolicy.
func GroupVersionKind() schema.GroupVersionKind { return GroupVersion.WithKind(Kind) }

func init() {
	SchemeBuilder.Register(&L7NetworkPolicy{}, &L7NetworkPolicyList{})
}

var _ runtime.Object = &L7NetworkPolicy{}
