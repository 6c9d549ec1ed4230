package validation

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// ValidateHTTPMonitor checks what the CRD schema cannot: route templates
// ("*" only as a whole segment, no duplicates), ports and the selector.
func ValidateHTTPMonitor(m *v1alpha1.HTTPMonitor) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	if _, err := metav1.LabelSelectorAsSelector(&m.Spec.PodSelector); err != nil {
		errs = append(errs, field.Invalid(sp.Child("podSelector"), m.Spec.PodSelector, err.Error()))
	}
	for i, p := range m.Spec.Ports {
		if p.Port < 1 || p.Port > 65535 {
			errs = append(errs, field.Invalid(sp.Child("ports").Index(i).Child("port"), p.Port, "must be 1-65535"))
		}
	}
	seen := map[string]bool{}
	for i, r := range m.Spec.Routes {
		fp := sp.Child("routes").Index(i)
		switch {
		case !strings.HasPrefix(r, "/"):
			errs = append(errs, field.Invalid(fp, r, "must start with /"))
		case len(r) > 256:
			errs = append(errs, field.TooLong(fp, r, 256))
		case strings.ContainsAny(r, "?# \t\r\n"):
			errs = append(errs, field.Invalid(fp, r, "a route is a path: no query, fragment or whitespace"))
		case seen[r]:
			errs = append(errs, field.Duplicate(fp, r))
		}
		seen[r] = true
		for _, seg := range strings.Split(r, "/") {
			if strings.Contains(seg, "*") && seg != "*" {
				errs = append(errs, field.Invalid(fp, r, `"*" matches one whole segment: write /a/*/b, not /a/b*`))
				break
			}
		}
	}
	if mr := m.Spec.MaxRoutes; mr != nil && (*mr < 1 || *mr > 10000) {
		errs = append(errs, field.Invalid(sp.Child("maxRoutes"), *mr, "must be 1-10000"))
	}
	return errs
}
