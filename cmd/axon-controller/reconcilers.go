package main

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/axon-dev/axon/controller/agentset"
	"github.com/axon-dev/axon/controller/policystatus"
)

// reconcilers are registered with the manager in this order; a new
// reconciler (a package under controller/ with a Setup function) is one
// line here.
func reconcilers(o options) []struct {
	name  string
	setup func(ctrl.Manager) error
} {
	agents := &agentset.Reconciler{Options: agentset.Options{
		Namespace: o.namespace, DefaultImage: o.agentImage, CreateDefault: o.createDefaultAgent,
	}}
	return []struct {
		name  string
		setup func(ctrl.Manager) error
	}{
		{"policystatus", policystatus.Setup},
		{"agentset", agents.SetupWithManager},
	}
}
