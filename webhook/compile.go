package webhook

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
)

// probeIP is the address of the pod compilePolicy makes up (TEST-NET-1).
const probeIP = "192.0.2.1"

// compilePolicy compiles p alone, for one made-up pod that its podSelector
// selects, on every port it polices: the compiler partially evaluates a
// policy only for the pods it protects, and the errors that matter at
// admission (Rego outside the supported fragment, with its line) come out
// of that evaluation. Compiler errors are mapped back to field paths: the
// compiler names where a rule was written through the origin annotations,
// which here hold field paths instead of file:line.
//
// A Rego module that branches on destination labels is evaluated for the
// probe's labels only; a construct reached only for other labels is found
// when the agent compiles (status Accepted=False), not here.
func compilePolicy(ctx context.Context, p *v1alpha1.L7NetworkPolicy, modules Modules, lim Limits) (field.ErrorList, []string) {
	var warns []string
	cp := p.DeepCopy()
	v1alpha1.Default(cp)
	if cp.Namespace == "" {
		cp.Namespace = source.DefaultNamespace
	}
	spec := field.NewPath("spec")
	// origin file name -> field path, for compiler errors.
	paths := map[string]*field.Path{"spec": spec}
	ann := map[string]string{v1alpha1.AnnotationOrigin: "spec:0"}
	if len(cp.Spec.Rules) > 0 {
		origins := make([]string, len(cp.Spec.Rules))
		for i := range cp.Spec.Rules {
			fp := spec.Child("rules").Index(i)
			paths[fp.String()] = fp
			origins[i] = fp.String() + ":0"
		}
		ann[v1alpha1.AnnotationRuleOrigins] = strings.Join(origins, ",")
	}
	in := &compiler.Input{Modules: map[string]string{}}
	var module string // the module's name in compiler errors
	var modulePath *field.Path
	where := "" // how an error names the module, before "line N"
	if r := cp.Spec.Rego; r != nil {
		switch {
		case r.Inline != "":
			modulePath = spec.Child("rego", "inline")
			module = modulePath.String()
			ann[v1alpha1.AnnotationOrigin] = module + ":0"
		case r.ConfigMapRef != nil:
			modulePath = spec.Child("rego", "configMapRef")
			module = compiler.ConfigMapModuleKey(cp.Namespace, r.ConfigMapRef.Name, r.ConfigMapRef.Key)
			where = fmt.Sprintf("ConfigMap %s key %q ", r.ConfigMapRef.Name, r.ConfigMapRef.Key)
			text, ok := modules[module]
			if !ok {
				warns = append(warns, fmt.Sprintf("%s: ConfigMap %s has no key %q (yet): the module is compiled, and the policy Accepted, once it exists",
					modulePath, r.ConfigMapRef.Name, r.ConfigMapRef.Key))
				return nil, warns
			}
			in.Modules[module] = text
		}
	}
	cp.Annotations = ann

	labels, ok := probeLabels(&cp.Spec.PodSelector)
	if !ok {
		warns = append(warns, spec.Child("podSelector").String()+": its requirements contradict each other: the policy selects no pod")
		cp.Spec.PodSelector = metav1.LabelSelector{}
	}
	in.Namespaces = []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: cp.Namespace,
		Labels: map[string]string{source.LabelNamespaceName: cp.Namespace}}}}
	in.Pods = []corev1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Name: "axon-admission-probe", Namespace: cp.Namespace, Labels: labels},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: probeIP},
	}}
	in.Policies = []v1alpha1.L7NetworkPolicy{*cp}

	t, err := compiler.Compile(ctx, in)
	if err == nil {
		// The policy alone must fit the datapath's bounds (glob candidates
		// per request, key lengths) and the agents' map sizes (lim); the
		// agent checks the whole node's set again.
		if ferr := lim.fit(t); ferr != nil {
			return field.ErrorList{&field.Error{Type: field.ErrorTypeTooMany, Field: spec.String(), BadValue: field.OmitValueType{}, Detail: ferr.Error()}}, warns
		}
		return nil, warns
	}
	var ce *compiler.Error
	if !errors.As(err, &ce) {
		return field.ErrorList{field.InternalError(spec, fmt.Errorf("compiling: %w", err))}, warns
	}
	return field.ErrorList{compileError(ce, paths, module, modulePath, where)}, warns
}

// compileError turns a compiler error into a field error: the rule's path
// for errors in rules, the module's path and "line N" for errors in Rego.
func compileError(ce *compiler.Error, paths map[string]*field.Path, module string, modulePath *field.Path, where string) *field.Error {
	e := *ce
	e.File, e.Line, e.Policy = "", 0, ""
	msg := e.Error()
	fp := paths["spec"]
	switch {
	case modulePath != nil && ce.File == module:
		fp = modulePath
		if ce.Line > 0 {
			msg = where + "line " + strconv.Itoa(ce.Line) + ": " + msg
		}
	case paths[ce.File] != nil:
		fp = paths[ce.File]
	}
	if errors.Is(ce, compiler.ErrUnsupported) {
		// Valid Rego that the datapath cannot enforce.
		return &field.Error{Type: field.ErrorTypeNotSupported, Field: fp.String(), BadValue: field.OmitValueType{}, Detail: msg}
	}
	return field.Invalid(fp, field.OmitValueType{}, msg)
}
