package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AxonAgent configures the Axon agents of the cluster: from it the
// controller (controller/agentset) creates and keeps the agent DaemonSet in
// the controller's namespace, rolls it when the configuration changes and
// reports the rollout here. There is one, named "default" (one agent per
// node: two DaemonSets would fight over the same interfaces and pins).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=axagent,categories=axon
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="there is one AxonAgent and it is named default"
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.status.image`,description="Agent image the DaemonSet runs"
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.status.desiredNumberScheduled`,description="Nodes that should run an agent"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.numberReady`,description="Agents ready"
// +kubebuilder:printcolumn:name="Up-to-date",type=integer,JSONPath=`.status.updatedNumberScheduled`,description="Agents running the current configuration"
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=="Available")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AxonAgent struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the agents' configuration. It defaults to {} so that its
	// fields' defaults are always stored (maxFlows, which cannot change,
	// has a value from the start).
	// +optional
	// +kubebuilder:default={}
	Spec AxonAgentSpec `json:"spec,omitzero"`

	// status is written by the controller.
	// +optional
	Status AxonAgentStatus `json:"status,omitzero"`
}

// AxonAgentSpec is the configuration of the agent DaemonSet. Every field is
// optional; an empty spec runs the controller's default image on every
// Linux node.
type AxonAgentSpec struct {
	// image is the agent's container image. Empty: the image the controller
	// was started with (its --agent-image flag), which matches its version.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// imagePullPolicy of the agent container.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// imagePullSecrets for a private registry, in the controller's namespace.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// logLevel of the agent: debug, info, warn or error.
	// +optional
	// +kubebuilder:default=info
	// +kubebuilder:validation:Enum=debug;info;warn;error
	LogLevel string `json:"logLevel,omitempty"`

	// logFormat of the agent: json or text.
	// +optional
	// +kubebuilder:default=json
	// +kubebuilder:validation:Enum=json;text
	LogFormat string `json:"logFormat,omitempty"`

	// metricsPort is the host port (the agent runs in the host network) of
	// the agent's /metrics, /healthz and /readyz.
	// +optional
	// +kubebuilder:default=9090
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	MetricsPort int32 `json:"metricsPort,omitempty"`

	// attachMode is how the agent attaches its TC programs: auto (TCX where
	// the kernel has it, 6.6+; clsact before), tcx or clsact.
	// +optional
	// +kubebuilder:default=auto
	// +kubebuilder:validation:Enum=auto;tcx;clsact
	AttachMode string `json:"attachMode,omitempty"`

	// observe turns the HTTP observer on (RED metrics of the pods an
	// HTTPMonitor selects). Default true.
	// +optional
	Observe *bool `json:"observe,omitempty"`

	// nodeSelector restricts the agent to matching nodes (and with it the
	// nodes where policies can be enforced). kubernetes.io/os=linux is
	// always added.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations of the agent pods. Absent: the agent tolerates every taint,
	// so that tainted nodes (control plane, dedicated pools) are policed
	// too. An empty list tolerates none.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// resources of the agent container. Absent: requests of 100m CPU and
	// 128Mi memory and a 512Mi memory limit.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// priorityClassName of the agent pods, so that they are the last to be
	// evicted: a node without its agent keeps the last policies in its
	// kernel but no longer follows changes.
	// +optional
	// +kubebuilder:default=system-node-critical
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// maxUnavailable is how many agents a rollout restarts at a time (a
	// number or a percentage of the nodes). Enforcement does not stop while
	// an agent restarts: its programs and maps stay pinned in the kernel.
	// +optional
	// +kubebuilder:validation:XIntOrString
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// maxPathRows is the agents' --max-path-rows: the path rows (endpoint x
	// source class x method x path) one policy table may hold; the paths map
	// holds twice as many (the table in force and the next one). The
	// admission webhook refuses a policy that alone needs more. A change
	// rolls the agents, which resize their maps and keep the table in force
	// (agent/README.md, Map sizes). At most 67108864, as maxSourceClasses:
	// the path_hash map is a hash map of the same size.
	// +optional
	// +kubebuilder:default=131072
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=67108864
	MaxPathRows int32 `json:"maxPathRows,omitempty"`

	// maxSourceClasses is the agents' --max-source-classes: the source
	// classes (endpoint x identity) one policy table may hold; the classes
	// map holds twice as many. At most 67108864: the kernel refuses a hash
	// map of more than 134217728 entries.
	// +optional
	// +kubebuilder:default=131072
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=67108864
	MaxSourceClasses int32 `json:"maxSourceClasses,omitempty"`

	// maxPodIPs is the agents' --max-pod-ips: the pod addresses one policy
	// table may hold; the pod_ips map holds twice as many. At most 67108864,
	// as maxSourceClasses.
	// +optional
	// +kubebuilder:default=65536
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=67108864
	MaxPodIPs int32 `json:"maxPodIPs,omitempty"`

	// maxFlows is the agents' --max-flows: connections to policed endpoints
	// tracked at once on a node; when the table is full, new connections to
	// enforced endpoints are refused. It cannot change once set: the flow
	// table is pinned with its size and an agent given another one cannot
	// load (docs/install.md says how to start afresh). At most 134217728,
	// the kernel's bound for a hash map.
	// +optional
	// +kubebuilder:default=65536
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=134217728
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="maxFlows cannot change: the agents' pinned flow table keeps its size (docs/install.md, Map sizes)"
	MaxFlows int32 `json:"maxFlows,omitempty"`

	// compileTimeout is the agents' --compile-timeout: the longest
	// compilation of a node's policy set; one that takes longer fails like a
	// broken policy and the table in force stays.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="compileTimeout must be positive"
	CompileTimeout *metav1.Duration `json:"compileTimeout,omitempty"`

	// extraArgs are appended to the agent's command line. The flags that
	// have a field above are refused here: the webhook judges policies by
	// the fields, so the agents must run with them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.exists(a, a.matches('^--?(max-path-rows|max-source-classes|max-pod-ips|max-flows|compile-timeout)(=|$)'))",message="set the map sizes and the compile timeout with maxPathRows, maxSourceClasses, maxPodIPs, maxFlows and compileTimeout, not extraArgs"
	ExtraArgs []string `json:"extraArgs,omitempty"`
}

// AxonAgentStatus is the rollout of the agent DaemonSet as the controller
// last saw it.
type AxonAgentStatus struct {
	// observedGeneration is the metadata.generation of the AxonAgent that
	// the DaemonSet was last made to match.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// daemonSet is the namespace/name of the agent DaemonSet.
	// +optional
	// +kubebuilder:validation:MaxLength=317
	DaemonSet string `json:"daemonSet,omitempty"`

	// image is the agent image in the DaemonSet's pod template.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// desiredNumberScheduled is the number of nodes that should run an agent.
	// +optional
	DesiredNumberScheduled int32 `json:"desiredNumberScheduled,omitempty"`

	// numberReady is the number of agents that are ready (enforcing).
	// +optional
	NumberReady int32 `json:"numberReady,omitempty"`

	// updatedNumberScheduled is the number of agents that run the current
	// configuration.
	// +optional
	UpdatedNumberScheduled int32 `json:"updatedNumberScheduled,omitempty"`

	// numberAvailable is the number of agents ready for at least the
	// DaemonSet's minReadySeconds.
	// +optional
	NumberAvailable int32 `json:"numberAvailable,omitempty"`

	// conditions: Available (every node that should run an agent runs a
	// ready one of the current configuration), Progressing (a rollout is
	// under way) and Degraded (the controller cannot create or update the
	// DaemonSet; the message says why).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Condition types set in AxonAgentStatus.Conditions.
const (
	// AgentAvailable is True when every node that should run an agent runs
	// a ready agent of the current configuration.
	AgentAvailable = "Available"
	// AgentProgressing is True while the DaemonSet rolls out a new
	// configuration or schedules agents on new nodes.
	AgentProgressing = "Progressing"
	// AgentDegraded is True when the controller could not create or update
	// the DaemonSet.
	AgentDegraded = "Degraded"
)

// DefaultAxonAgentName is the name of the one AxonAgent.
const DefaultAxonAgentName = "default"

// AxonAgentList is a list of AxonAgent.
//
// +kubebuilder:object:root=true
type AxonAgentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AxonAgent `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AxonAgent{}, &AxonAgentList{})
}
