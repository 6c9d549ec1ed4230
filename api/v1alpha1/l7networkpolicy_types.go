package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyMode says whether a policy's verdicts are applied or only counted.
// +kubebuilder:validation:Enum=Enforce;Audit
type PolicyMode string

const (
	// ModeEnforce applies the policy: denied requests are reset before the
	// server sees them.
	ModeEnforce PolicyMode = "Enforce"
	// ModeAudit lets every request through and counts the requests the
	// policy would deny (audit_deny).
	ModeAudit PolicyMode = "Audit"
)

// RuleAction is what happens to a request a rule (or the default) decides.
// +kubebuilder:validation:Enum=Allow;Deny
type RuleAction string

const (
	// ActionAllow lets the request through.
	ActionAllow RuleAction = "Allow"
	// ActionDeny resets the connection before the server sees the request.
	ActionDeny RuleAction = "Deny"
)

// L7NetworkPolicy says which sources may send which HTTP/1.x requests to the
// selected pods' ports. Several policies may protect the same pod and port:
// a matching Deny rule of any of them beats every Allow rule, and requests
// no rule matches get the strictest defaultAction. The full semantics are in
// docs/semantics.md.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=l7np;l7netpol,categories=axon
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`,description="Enforce or Audit"
// +kubebuilder:printcolumn:name="Default",type=string,JSONPath=`.spec.defaultAction`,description="Action for requests no rule matches"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="The policy compiled"
// +kubebuilder:printcolumn:name="Enforced",type=string,JSONPath=`.status.conditions[?(@.type=="Enforced")].status`,description="Every node running a selected pod applied this generation"
// +kubebuilder:printcolumn:name="Nodes",type=string,JSONPath=`.status.nodes`,priority=1,description="Nodes that applied this generation / nodes expected"
// +kubebuilder:printcolumn:name="Rules",type=integer,JSONPath=`.status.ruleCount`,priority=1,description="Rules the policy compiled to"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type L7NetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which pods and ports are protected and which requests they
	// accept.
	// +required
	Spec L7NetworkPolicySpec `json:"spec"`

	// status reports whether the policy compiled and is enforced.
	// +optional
	Status L7NetworkPolicyStatus `json:"status,omitzero"`
}

// L7NetworkPolicySpec selects the protected endpoints and holds the rules.
// +kubebuilder:validation:XValidation:rule="!has(self.rego) || !has(self.rules) || size(self.rules) == 0",message="rules and rego are mutually exclusive"
type L7NetworkPolicySpec struct {
	// podSelector picks the protected pods in the policy's namespace.
	// An empty selector ({}) selects every pod of the namespace.
	// +required
	PodSelector metav1.LabelSelector `json:"podSelector"`

	// ports are the TCP ports of the selected pods where HTTP requests are
	// parsed and policed. Each selected pod IP and port is a policed
	// endpoint; traffic to other ports is not touched. On a policed port,
	// traffic that is not HTTP/1.x is denied (Enforce) or counted (Audit).
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=port
	Ports []PortSpec `json:"ports"`

	// mode is Enforce (verdicts are applied) or Audit (every request passes;
	// the requests this policy would deny are counted as audit_deny).
	// +optional
	// +kubebuilder:default=Enforce
	Mode PolicyMode `json:"mode,omitempty"`

	// defaultAction decides requests that no rule matches: Deny (an
	// allow-list) or Allow (a deny-list). When several policies protect the
	// same endpoint, Deny wins.
	// +optional
	// +kubebuilder:default=Deny
	DefaultAction RuleAction `json:"defaultAction,omitempty"`

	// rules are matched against every request to a policed endpoint. A
	// matching Deny rule beats any matching Allow rule, whatever the order.
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	Rules []Rule `json:"rules,omitempty"`

	// rego gives the policy's logic as a Rego module instead of rules: its
	// `deny` rules act as Deny rules, its `allow` rules as Allow rules, and
	// defaultAction decides requests neither matches. The module sees the
	// input documented in docs/semantics.md (method, path, source,
	// destination). Mutually exclusive with rules.
	// +optional
	Rego *RegoSource `json:"rego,omitempty"`
}

// PortSpec is one policed TCP port.
type PortSpec struct {
	// port is the TCP port number the selected pods listen on.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// Rule allows or denies the requests it matches: requests from one of its
// sources (from) that match one of its HTTP items (http).
type Rule struct {
	// action is Allow (default) or Deny. A matching Deny rule beats every
	// matching Allow rule of every policy protecting the endpoint.
	// +optional
	// +kubebuilder:default=Allow
	Action RuleAction `json:"action,omitempty"`

	// from lists the sources the rule applies to; a source matching any item
	// matches. Omitted: every source, external addresses included.
	// Present but empty (from: []): no source, the rule never matches.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	From []Peer `json:"from,omitzero"`

	// http lists the requests the rule applies to; a request matching any
	// item matches. Omitted: every request. Present but empty: no request.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	HTTP []HTTPRule `json:"http,omitzero"`
}

// Peer selects request sources: pods by labels, or external addresses by
// CIDR. Give podSelector and/or namespaceSelector, or ipBlock alone.
// +kubebuilder:validation:XValidation:rule="has(self.ipBlock) != (has(self.podSelector) || has(self.namespaceSelector))",message="give ipBlock alone, or podSelector and/or namespaceSelector"
type Peer struct {
	// podSelector selects pods by label. Without namespaceSelector it selects
	// pods in the policy's namespace; with it, pods in the selected
	// namespaces. An empty selector ({}) matches every pod.
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`

	// namespaceSelector selects the namespaces whose pods match (all of their
	// pods, unless podSelector narrows them). An empty selector ({})
	// matches every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// ipBlock selects sources by address. In an Allow rule it selects
	// external sources only (as in Cilium, an Allow CIDR never opens a known
	// pod up); in a Deny rule it selects every source whose IP is inside
	// the block, known pods included.
	// +optional
	IPBlock *IPBlock `json:"ipBlock,omitempty"`
}

// IPBlock is a range of external source addresses.
type IPBlock struct {
	// cidr is the range, e.g. 10.0.0.0/8 or 2001:db8::/32.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	CIDR string `json:"cidr"`

	// except lists sub-ranges of cidr that the block does not match.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	Except []string `json:"except,omitempty"`
}

// HTTPRule matches HTTP requests by method and path.
type HTTPRule struct {
	// methods are case-sensitive method tokens (GET, POST, ...). Omitted:
	// any method, including tokens no rule names.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=16
	// +kubebuilder:validation:items:Pattern=`^[!#$%&'*+.^_|~0-9A-Za-z-]+$`
	Methods []string `json:"methods,omitempty"`

	// paths match the request path (the target without query and fragment).
	// Omitted: any path. Non-canonical paths (percent-encoded unreserved
	// characters, //, /./, /../, backslashes) are denied before any rule is
	// consulted.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	Paths []PathMatch `json:"paths,omitempty"`
}

// PathMatch matches request paths. Exactly one of exact, prefix or glob is
// set; the pattern is a canonical path of at most 127 bytes.
//
// "Exactly one" is min/maxProperties, not a CEL rule: a CEL rule here runs
// for up to rules x http x paths items, and the API server refuses a CRD
// whose estimated CEL cost exceeds its budget (40x over with ExactlyOneOf).
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:MaxProperties=1
type PathMatch struct {
	// exact matches this path only, e.g. /healthz.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	Exact string `json:"exact,omitempty"`

	// prefix matches the path and everything below it, segment-wise as in
	// the Gateway API: /api/v1 matches /api/v1 and /api/v1/x, not /api/v1x.
	// A trailing slash is ignored; / matches every path.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	Prefix string `json:"prefix,omitempty"`

	// glob matches the whole path with '/' as separator: * is any run of
	// characters except '/', ** any run including '/', ? one character
	// except '/'. Brackets, braces and backslashes are not allowed.
	// Example: /api/v1/orders/*/items.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	Glob string `json:"glob,omitempty"`
}

// RegoSource says where a policy's Rego module is. Exactly one field is set.
// +kubebuilder:validation:ExactlyOneOf=inline;file;configMapRef
type RegoSource struct {
	// inline is the module text.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Inline string `json:"inline,omitempty"`

	// file is the module's path relative to the policy directory
	// (standalone mode only), e.g. tenants.rego.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	File string `json:"file,omitempty"`

	// configMapRef names a key of a ConfigMap in the policy's namespace
	// that holds the module text (cluster mode).
	// +optional
	ConfigMapRef *ConfigMapKeyRef `json:"configMapRef,omitempty"`
}

// ConfigMapKeyRef names one key of a ConfigMap in the policy's namespace.
type ConfigMapKeyRef struct {
	// name is the ConfigMap's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the data key holding the module text.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// L7NetworkPolicyStatus reports whether the policy compiled and whether
// every node that runs a selected pod applies it. It follows the Kubernetes
// API conventions: conditions with observedGeneration, so a reader can tell
// a stale status from a current one.
type L7NetworkPolicyStatus struct {
	// observedGeneration is the metadata.generation of the spec this status
	// describes. A status whose observedGeneration is below
	// metadata.generation is about an older spec.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// ruleCount is the number of rules the policy compiled to.
	// +optional
	RuleCount int32 `json:"ruleCount,omitempty"`

	// nodes is "applied/expected": how many of the nodes that run a pod this
	// policy selects have applied observedGeneration, e.g. "3/4".
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Nodes string `json:"nodes,omitempty"`

	// conditions are the policy's current state. Accepted: the policy
	// compiled (False: the message names the field or Rego line that did
	// not). Enforced: every node that runs a selected pod has applied this
	// generation (the message counts nodes applied and expected).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Condition types set in L7NetworkPolicyStatus.Conditions.
const (
	// ConditionAccepted is True when the policy compiled without errors:
	// the admission webhook would admit it as it is now (a Rego module in a
	// ConfigMap can change after admission).
	ConditionAccepted = "Accepted"
	// ConditionEnforced is True when every node that runs a pod the policy
	// selects has applied this generation; its message says "applied on N
	// of M nodes".
	ConditionEnforced = "Enforced"
)

// Condition reasons.
const (
	// ReasonCompiled: Accepted is True.
	ReasonCompiled = "Compiled"
	// ReasonInvalid: Accepted is False; the message names the field.
	ReasonInvalid = "Invalid"
	// ReasonUnsupportedRego: Accepted is False; the Rego module uses a
	// construct outside the supported fragment (the message has its line).
	ReasonUnsupportedRego = "UnsupportedRego"
	// ReasonTooLarge: Accepted is False; the policy alone needs more than
	// the datapath's bounds or the agents' map sizes allow (the message
	// names the limit, and the AxonAgent field that sets it).
	ReasonTooLarge = "TooLarge"
	// ReasonApplied: Enforced is True.
	ReasonApplied = "Applied"
	// ReasonPending: Enforced is False while some nodes have not applied
	// this generation yet.
	ReasonPending = "Pending"
	// ReasonNoPods: Enforced is False because the policy selects no
	// running pod: no node has anything to apply ("applied on 0 of 0
	// nodes"), which is also what a selector with a typo gives.
	ReasonNoPods = "NoPods"
	// ReasonModuleNotFound: Accepted is False because the ConfigMap key
	// spec.rego.configMapRef names does not exist.
	ReasonModuleNotFound = "ModuleNotFound"
)

// L7NetworkPolicyList is a list of L7NetworkPolicy.
//
// +kubebuilder:object:root=true
type L7NetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the policies.
	Items []L7NetworkPolicy `json:"items"`
}
