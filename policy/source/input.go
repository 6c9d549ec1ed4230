package source

import (
	"maps"

	"github.com/axon-dev/axon/policy/compiler"
)

// Input returns what the compiler needs from the set (slices shared, the
// module map copied), with the ConfigMap keys that policies reference as
// modules.
func (s *Set) Input() *compiler.Input {
	in := &compiler.Input{
		Namespaces:  s.Namespaces,
		Pods:        s.Pods,
		Policies:    s.Policies,
		Modules:     maps.Clone(s.Modules),
		Data:        s.Data,
		DataModules: s.DataModules,
		// Shared: the compiler only reads it.
		PolicyVersions: s.PolicyVersions,
	}
	for _, p := range s.Policies {
		if r := p.Spec.Rego; r != nil && r.ConfigMapRef != nil {
			if text, ok := s.configMapData(p.Namespace+"/"+r.ConfigMapRef.Name, r.ConfigMapRef.Key); ok {
				in.Modules[compiler.ConfigMapModuleKey(p.Namespace, r.ConfigMapRef.Name, r.ConfigMapRef.Key)] = text
			}
		}
	}
	return in
}
