package webhook

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/api/v1alpha1/validation"
)

// Modules holds the text of Rego modules that policies reference through
// spec.rego.configMapRef, by compiler.ConfigMapModuleKey; a key that is
// absent means the ConfigMap or its key does not exist.
type Modules map[string]string

// ValidateL7NetworkPolicy is what the webhook admits: the checks of
// validation.ValidatePolicy and, when they pass, a compilation of the policy
// (compilePolicy), which must fit the map sizes lim (AgentLimits; the zero
// Limits: this process's). Errors refuse the object; warnings are shown to
// its author. It reads nothing but its arguments.
func ValidateL7NetworkPolicy(ctx context.Context, p *v1alpha1.L7NetworkPolicy, modules Modules, lim Limits) (field.ErrorList, []string) {
	errs, warns := validation.ValidatePolicy(p)
	if len(errs) > 0 {
		return errs, warns
	}
	if r := p.Spec.Rego; r != nil && r.File != "" {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "rego", "file"), r.File,
			"a module file exists in standalone mode only; in a cluster use inline or configMapRef")}, warns
	}
	cerrs, cwarns := compilePolicy(ctx, p, modules, lim)
	return cerrs, append(warns, cwarns...)
}

// ValidateHTTPMonitor is what the webhook admits for an HTTPMonitor: the
// checks the policy folder loader makes (validation.ValidateHTTPMonitor),
// which the CRD schema cannot express (a "*" inside a route segment,
// duplicate routes, the selector's syntax).
func ValidateHTTPMonitor(m *v1alpha1.HTTPMonitor) field.ErrorList {
	return validation.ValidateHTTPMonitor(m)
}
