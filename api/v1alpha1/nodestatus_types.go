package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AxonNodeStatus is what the Axon agent of one node reports to the
// controller: which generation of each policy it has in its kernel maps. There
// is one object per node, named after the node and written only by that
// node's agent; the controller reads them all to set each policy's Enforced
// condition ("applied on N of M nodes").
//
// It is the scalable status channel of cluster mode: an agent writes its one
// object when what it applies changes and renews heartbeatTime at most every
// heartbeat interval (like a node Lease), instead of writing the status of
// every policy from every node. Its spec is empty; everything is status.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=axnode,categories=axon
// +kubebuilder:printcolumn:name="Enforcing",type=boolean,JSONPath=`.status.enforcing`,description="Programs attached and a policy set in the maps"
// +kubebuilder:printcolumn:name="Policies",type=integer,JSONPath=`.status.policyCount`,description="Policies this node applies"
// +kubebuilder:printcolumn:name="Heartbeat",type=date,JSONPath=`.status.heartbeatTime`,description="Last time the agent renewed this record"
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.agentVersion`,priority=1
type AxonNodeStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// status is written by the node's agent.
	// +optional
	Status AxonNodeStatusStatus `json:"status,omitzero"`
}

// AxonNodeStatusStatus is the state of one node's agent.
type AxonNodeStatusStatus struct {
	// heartbeatTime is when the agent last renewed this record. The
	// controller counts a node whose heartbeat is older than three
	// heartbeat intervals as not applying anything ("agent not reporting").
	// +optional
	HeartbeatTime metav1.Time `json:"heartbeatTime,omitzero"`

	// heartbeatSeconds is the agent's heartbeat interval in seconds.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	HeartbeatSeconds int32 `json:"heartbeatSeconds,omitempty"`

	// agentVersion is the version of the agent binary.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AgentVersion string `json:"agentVersion,omitempty"`

	// enforcing is true when the agent's programs are attached in front of
	// every local pod it polices and a policy set is in its maps.
	// +optional
	Enforcing bool `json:"enforcing,omitempty"`

	// policyCount is the number of entries in policies.
	// +optional
	PolicyCount int32 `json:"policyCount,omitempty"`

	// policies lists every policy that selects a pod on this node, with the
	// generation the node applies. A policy that selects no local pod is not
	// listed (this node is not expected to apply it).
	// +optional
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10000
	Policies []NodePolicyStatus `json:"policies,omitempty"`

	// message says why the agent is not enforcing or could not apply its
	// last policy set, when it is so.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Message string `json:"message,omitempty"`
}

// NodePolicyStatus is one policy as seen by one node's agent.
type NodePolicyStatus struct {
	// namespace of the policy.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name of the policy.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// appliedGeneration is the metadata.generation of the policy whose
	// compiled rules are in this node's kernel maps; 0 when none is.
	// +optional
	AppliedGeneration int64 `json:"appliedGeneration,omitempty"`

	// error says why the agent could not apply the generation it last saw
	// (it keeps enforcing appliedGeneration meanwhile); empty when it did.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Error string `json:"error,omitempty"`
}

// AxonNodeStatusList is a list of AxonNodeStatus.
//
// +kubebuilder:object:root=true
type AxonNodeStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AxonNodeStatus `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AxonNodeStatus{}, &AxonNodeStatusList{})
}
