package source

import (
	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/api/v1alpha1/validation"
	yaml "go.yaml.in/yaml/v3"
)

// monitor checks and keeps one HTTPMonitor; problems are reported at the
// line of the offending field.
func (l *loader) monitor(pos Pos, n *yaml.Node, m *v1alpha1.HTTPMonitor) {
	if m.Namespace == "" {
		m.Namespace = DefaultNamespace
	}
	if !l.first(pos, v1alpha1.KindHTTPMonitor, m.Namespace, m.Name) {
		return
	}
	errs := validation.ValidateHTTPMonitor(m)
	for _, e := range errs {
		l.errorf(Pos{File: pos.File, Line: lineOf(n, e.Field)}, "monitor %s/%s: %s", m.Namespace, m.Name, e.Error())
	}
	if len(errs) == 0 {
		l.set.Monitors = append(l.set.Monitors, *m)
	}
}
