package source

import (
	"fmt"
	"net/netip"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// Objects are objects read from the API server (cluster mode).
type Objects struct {
	Namespaces []corev1.Namespace
	Pods       []corev1.Pod
	ConfigMaps []corev1.ConfigMap
	Policies   []v1alpha1.L7NetworkPolicy
	Monitors   []v1alpha1.HTTPMonitor
}

// ObjectFile is the position FromObjects gives an object in problems and in
// AnnotationOrigin: "cluster/<resource>/<namespace>/<name>".
func ObjectFile(resource, namespace, name string) string {
	return "cluster/" + resource + "/" + namespace + "/" + name
}

// FromObjects makes a Set of objects read from the API server, checked as
// Load checks the files of a directory (the same defaulting, validation and
// references): a policy directory and the API server are two sources of one
// kind. Policies and monitors are decoded from their YAML form, strictly;
// problems are positioned at ObjectFile and the line of that form.
func FromObjects(objs Objects) (*Set, Problems) {
	l := &loader{
		set:   &Set{Modules: map[string]string{}, Tests: map[string]string{}},
		seen:  map[string]Pos{},
		podIP: map[netip.Addr]Pos{},
	}
	for i := range objs.Namespaces {
		ns := objs.Namespaces[i].DeepCopy()
		l.namespace(Pos{File: ObjectFile("namespaces", "", ns.Name)}, ns)
	}
	for i := range objs.Pods {
		pod := objs.Pods[i].DeepCopy()
		l.pod(Pos{File: ObjectFile("pods", pod.Namespace, pod.Name)}, pod)
	}
	for i := range objs.ConfigMaps {
		cm := objs.ConfigMaps[i]
		pos := Pos{File: ObjectFile("configmaps", cm.Namespace, cm.Name)}
		if l.first(pos, "ConfigMap", cm.Namespace, cm.Name) {
			l.set.ConfigMaps = append(l.set.ConfigMaps, cm)
		}
	}
	for i := range objs.Policies {
		p := objs.Policies[i].DeepCopy()
		p.APIVersion, p.Kind = v1alpha1.GroupVersion.String(), v1alpha1.Kind
		l.fromYAML(ObjectFile("l7networkpolicies", p.Namespace, p.Name), p)
	}
	for i := range objs.Monitors {
		m := objs.Monitors[i].DeepCopy()
		m.APIVersion, m.Kind = v1alpha1.GroupVersion.String(), v1alpha1.KindHTTPMonitor
		l.fromYAML(ObjectFile("httpmonitors", m.Namespace, m.Name), m)
	}
	l.finish()
	return l.set, l.problems
}

// fromYAML loads one API object through its YAML form, as a file would be.
func (l *loader) fromYAML(file string, obj interface {
	SetManagedFields([]metav1.ManagedFieldsEntry)
}) {
	obj.SetManagedFields(nil)
	data, err := sigsyaml.Marshal(obj)
	if err != nil {
		l.errorf(Pos{File: file}, "encoding: %v", err)
		return
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		l.errorf(Pos{File: file}, "decoding: %v", fmt.Sprint(err))
		return
	}
	l.object(file, doc.Content[0])
}
