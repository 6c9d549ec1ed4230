package webhook

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/table"
)

// Limits are the decision-map sizes a policy is judged by: the agents' (a
// policy that compiles but does not fit their maps is never enforced).
type Limits struct {
	// Agent is the spec of AxonAgent default when the limits are its
	// fields, which the controller gives the agents as their --max-*
	// flags. Nil: this process's limits (datapath.TableLimits: its own
	// --max-* flags, or the defaults).
	Agent *v1alpha1.AxonAgentSpec
}

// AgentLimits reads the limits the cluster's agents run with: those of
// AxonAgent default when it exists. Without one (agents not run by the
// controller, or the AxonAgent kind not installed) they are this process's
// --max-* flags. Any other error reading it is returned: judging by the
// wrong sizes would admit policies the agents refuse.
func AgentLimits(ctx context.Context, r client.Reader) (Limits, error) {
	if r == nil {
		return Limits{}, nil
	}
	var a v1alpha1.AxonAgent
	err := r.Get(ctx, client.ObjectKey{Name: v1alpha1.DefaultAxonAgentName}, &a)
	switch {
	case err == nil:
		return Limits{Agent: &a.Spec}, nil
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err):
		return Limits{}, nil
	}
	return Limits{}, fmt.Errorf("reading axonagent %s for the agents' map sizes: %w", v1alpha1.DefaultAxonAgentName, err)
}

// maps returns the limits by decision map, for datapath's Fit.
func (l Limits) maps() (datapath.Limits, error) {
	lim, err := datapath.TableLimits()
	if err != nil || l.Agent == nil {
		return lim, err
	}
	byFlag := map[string]string{}
	for _, f := range datapath.LimitFlags {
		byFlag[f.Name] = f.Map
	}
	for _, m := range l.Agent.MapSizes() {
		name, ok := byFlag[m.Flag]
		if !ok {
			return nil, fmt.Errorf("axonagent field %s: the agent has no --%s", m.Field, m.Flag)
		}
		lim[name] = int(m.Value)
	}
	return lim, nil
}

// fit checks that t fits the limits; the error names the AxonAgent field
// to raise when the limits are AxonAgent default's.
func (l Limits) fit(t *table.Table) error {
	lim, err := l.maps()
	if err != nil {
		return err
	}
	ferr := lim.Fit(t)
	if ferr == nil || l.Agent == nil {
		return ferr
	}
	// What Fit counts against each limit that has a field.
	need := map[string]int{
		"max-path-rows":      datapath.MapPathRows(t),
		"max-source-classes": len(t.Classes),
		"max-pod-ips":        len(t.PodIPs),
	}
	var over []string
	for _, m := range l.Agent.MapSizes() {
		if n := need[m.Flag]; n > int(m.Value) {
			over = append(over, fmt.Sprintf("spec.%s of AxonAgent %s is %d and this policy alone needs %d",
				m.Field, v1alpha1.DefaultAxonAgentName, m.Value, n))
		}
	}
	if len(over) == 0 {
		return ferr
	}
	return fmt.Errorf("%w; in this cluster the agents' map sizes are AxonAgent %s's: %s (kubectl edit axonagent %[2]s raises it: the agents and admission follow it)",
		ferr, v1alpha1.DefaultAxonAgentName, strings.Join(over, ", "))
}
