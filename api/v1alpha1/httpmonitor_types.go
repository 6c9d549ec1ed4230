package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KindHTTPMonitor is the kind of the monitor resource.
const KindHTTPMonitor = "HTTPMonitor"

// DefaultMaxRoutes is spec.maxRoutes when omitted.
const DefaultMaxRoutes = 100

// HTTPMonitor asks the agent to observe the HTTP/1.x traffic of the selected
// pods at the socket level, as servers and as clients, and to export
// OpenTelemetry-named RED metrics (http_server_request_duration_seconds,
// http_client_request_duration_seconds, body sizes) per workload and route.
// Only pods some HTTPMonitor selects are observed. docs/observability.md
// has the details.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=httpmon,categories=axon
// +kubebuilder:printcolumn:name="MaxRoutes",type=integer,JSONPath=`.spec.maxRoutes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type HTTPMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec selects the observed pods and shapes their route label.
	// +required
	Spec HTTPMonitorSpec `json:"spec"`
}

// HTTPMonitorSpec selects the observed workloads and their routes.
type HTTPMonitorSpec struct {
	// podSelector selects the pods of the monitor's namespace to observe,
	// server side and client side. An empty selector selects every pod of
	// the namespace.
	// +required
	PodSelector metav1.LabelSelector `json:"podSelector"`

	// ports are the server ports observed; omitted: every port the pods
	// serve on. Client-side traffic is observed whatever the port.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Ports []MonitorPort `json:"ports,omitempty"`

	// routes are route templates for the route label: paths match segment
	// by segment, "*" matches exactly one non-empty segment, and the first
	// matching template in this order wins. Paths no template matches are
	// collapsed by the heuristic of docs/observability.md (numbers, UUIDs
	// and hex ids become "*").
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^/[^?#\s]*$`
	Routes []string `json:"routes,omitempty"`

	// maxRoutes caps the distinct route values of each workload; requests
	// beyond the cap get route="other". Default 100.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxRoutes *int32 `json:"maxRoutes,omitempty"`
}

// MonitorPort is one observed server port.
type MonitorPort struct {
	// port is the TCP port the server listens on.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// HTTPMonitorList is a list of HTTPMonitors.
//
// +kubebuilder:object:root=true
type HTTPMonitorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HTTPMonitor `json:"items"`
}

// MaxRoutesOrDefault returns spec.maxRoutes or DefaultMaxRoutes.
func (m *HTTPMonitor) MaxRoutesOrDefault() int {
	if m.Spec.MaxRoutes == nil {
		return DefaultMaxRoutes
	}
	return int(*m.Spec.MaxRoutes)
}

func init() {
	SchemeBuilder.Register(&HTTPMonitor{}, &HTTPMonitorList{})
}
