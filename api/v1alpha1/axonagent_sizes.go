package v1alpha1

import "time"

// Defaults of the AxonAgentSpec fields that size the agents' maps and bound
// their compilations: the agent's own (bpf/include/map_sizing.h halved, each
// map holding two tables; agent.CompileTimeout). The CRD's default markers
// say the same; controller/agentset's tests check both against the agent.
const (
	DefaultMaxPathRows      = 131072
	DefaultMaxSourceClasses = 131072
	DefaultMaxPodIPs        = 65536
	DefaultMaxFlows         = 65536
	DefaultCompileTimeout   = time.Minute
)

// AgentMapSize is one decision-map limit the AxonAgent gives the agents.
type AgentMapSize struct {
	// Field is the AxonAgentSpec field ("maxPathRows").
	Field string
	// Flag is the agent's flag, without dashes ("max-path-rows"): one of
	// datapath.LimitFlags.
	Flag string
	// Value is the field's value, or its default when unset.
	Value int32
}

// MapSizes returns the decision-map limits s gives the agents (the agent
// DaemonSet's --max-* flags, and what the admission webhook judges
// policies by), with the defaults for unset fields.
func (s *AxonAgentSpec) MapSizes() []AgentMapSize {
	return []AgentMapSize{
		{Field: "maxPathRows", Flag: "max-path-rows", Value: orInt32(s.MaxPathRows, DefaultMaxPathRows)},
		{Field: "maxSourceClasses", Flag: "max-source-classes", Value: orInt32(s.MaxSourceClasses, DefaultMaxSourceClasses)},
		{Field: "maxPodIPs", Flag: "max-pod-ips", Value: orInt32(s.MaxPodIPs, DefaultMaxPodIPs)},
	}
}

// FlowTableSize is s.MaxFlows, or its default when unset.
func (s *AxonAgentSpec) FlowTableSize() int32 { return orInt32(s.MaxFlows, DefaultMaxFlows) }

// CompileTimeoutOrDefault is s.CompileTimeout, or its default when unset.
func (s *AxonAgentSpec) CompileTimeoutOrDefault() time.Duration {
	if s.CompileTimeout == nil || s.CompileTimeout.Duration <= 0 {
		return DefaultCompileTimeout
	}
	return s.CompileTimeout.Duration
}

func orInt32(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}
