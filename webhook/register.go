package webhook

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// Paths the kinds are served at (the ValidatingWebhookConfiguration in
// config/webhook names them).
const (
	PathL7NetworkPolicy = "/validate-axon-dev-v1alpha1-l7networkpolicy"
	PathHTTPMonitor     = "/validate-axon-dev-v1alpha1-httpmonitor"
)

// Scheme returns a scheme with the types the webhook decodes.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// The ValidatingWebhookConfiguration entries (scripts/gen-crds.sh). failurePolicy
// is Fail: docs/webhook.md says why.
//
// +kubebuilder:webhook:path=/validate-axon-dev-v1alpha1-l7networkpolicy,mutating=false,failurePolicy=fail,sideEffects=None,groups=axon.dev,resources=l7networkpolicies,verbs=create;update,versions=v1alpha1,name=l7networkpolicies.axon.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/validate-axon-dev-v1alpha1-httpmonitor,mutating=false,failurePolicy=fail,sideEffects=None,groups=axon.dev,resources=httpmonitors,verbs=create;update,versions=v1alpha1,name=httpmonitors.axon.dev,admissionReviewVersions=v1,timeoutSeconds=10

// Register serves every kind's validation on srv. reader reads the
// ConfigMaps that hold Rego modules (the API server directly, not a cache of
// every ConfigMap) and AxonAgent default, whose map sizes policies are
// judged by (AgentLimits); nil admits configMapRef policies with a warning
// that they were not compiled, and judges by this process's --max-* flags.
//
// A new kind is one entry here: its path, its pure validation function and
// its spec, plus a +kubebuilder:webhook marker above Register (controller-gen
// writes config/webhook/manifests.yaml from them).
func Register(srv ctrlwebhook.Server, scheme *runtime.Scheme, reader client.Reader) {
	srv.Register(PathL7NetworkPolicy, admission.WithValidator(scheme, &kind[*v1alpha1.L7NetworkPolicy]{
		gk: v1alpha1.GroupVersion.WithKind(v1alpha1.Kind).GroupKind(),
		validate: func(ctx context.Context, p *v1alpha1.L7NetworkPolicy) (field.ErrorList, []string, error) {
			modules, err := PolicyModules(ctx, reader, p)
			if err != nil {
				return nil, nil, err
			}
			lim, err := AgentLimits(ctx, reader)
			if err != nil {
				return nil, nil, err
			}
			errs, warns := ValidateL7NetworkPolicy(ctx, p, modules, lim)
			return errs, warns, nil
		},
		spec: func(p *v1alpha1.L7NetworkPolicy) any { return p.Spec },
	}))
	srv.Register(PathHTTPMonitor, admission.WithValidator(scheme, &kind[*v1alpha1.HTTPMonitor]{
		gk: v1alpha1.GroupVersion.WithKind(v1alpha1.KindHTTPMonitor).GroupKind(),
		validate: func(_ context.Context, m *v1alpha1.HTTPMonitor) (field.ErrorList, []string, error) {
			return ValidateHTTPMonitor(m), nil, nil
		},
		spec: func(m *v1alpha1.HTTPMonitor) any { return m.Spec },
	}))
}
