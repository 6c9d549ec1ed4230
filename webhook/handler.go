package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
)

// kind adapts a pure validation function of one kind to controller-runtime's
// admission.Validator: it is the whole handler, the same for every kind.
type kind[T client.Object] struct {
	gk       schema.GroupKind
	validate func(ctx context.Context, obj T) (field.ErrorList, []string, error)
	// spec returns the part of an object whose change is re-validated on
	// update.
	spec func(obj T) any
}

func (k *kind[T]) ValidateCreate(ctx context.Context, obj T) (admission.Warnings, error) {
	return k.check(ctx, obj)
}

// ValidateUpdate validates the new object when its spec changed. An update
// that leaves the spec alone (labels, annotations, finalizers) is admitted:
// an object stored before a stricter webhook version can still be labelled
// and deleted.
func (k *kind[T]) ValidateUpdate(ctx context.Context, old, obj T) (admission.Warnings, error) {
	if equality.Semantic.DeepEqual(k.spec(old), k.spec(obj)) {
		return nil, nil
	}
	return k.check(ctx, obj)
}

// ValidateDelete admits every delete (the webhook is not registered for
// them).
func (k *kind[T]) ValidateDelete(context.Context, T) (admission.Warnings, error) { return nil, nil }

func (k *kind[T]) check(ctx context.Context, obj T) (admission.Warnings, error) {
	errs, warns, err := k.validate(ctx, obj)
	if err != nil {
		return warns, apierrors.NewInternalError(err)
	}
	if len(errs) > 0 {
		return warns, apierrors.NewInvalid(k.gk, obj.GetName(), errs)
	}
	return warns, nil
}

// PolicyModules reads the module p references through spec.rego.configMapRef
// from r (nil: none is found); a policy without one needs no module. A
// ConfigMap or key that does not exist is absent from the result, not an
// error.
func PolicyModules(ctx context.Context, r client.Reader, p *v1alpha1.L7NetworkPolicy) (Modules, error) {
	rs := p.Spec.Rego
	if rs == nil || rs.ConfigMapRef == nil {
		return Modules{}, nil
	}
	return configMapModules(ctx, r, p.Namespace, rs.ConfigMapRef.Name, rs.ConfigMapRef.Key,
		compiler.ConfigMapModuleKey(p.Namespace, rs.ConfigMapRef.Name, rs.ConfigMapRef.Key))
}

// configMapModules reads one module from a ConfigMap key.
func configMapModules(ctx context.Context, r client.Reader, namespace, name, key, moduleKey string) (Modules, error) {
	m := Modules{}
	if r == nil {
		return m, nil
	}
	var cm corev1.ConfigMap
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		return m, nil
	case err != nil:
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, name, err)
	}
	if text, ok := cm.Data[key]; ok {
		m[moduleKey] = text
	}
	return m, nil
}
