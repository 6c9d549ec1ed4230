package stream

import "time"

// Event types.
const (
	TypeDecision = "decision" // a deny or audit_deny from the datapath
	TypeRequest  = "request"  // a request and response the observer saw
	TypeLost     = "lost"     // events this subscriber missed
)

// Peer is one end of a request.
type Peer struct {
	IP        string `json:"ip,omitempty"`
	Port      uint16 `json:"port,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Workload  string `json:"workload,omitempty"`
}

// Event is one line of the stream. Decision events carry verdict, rule,
// policy, mode and reason; request events carry status and latency; lost
// events carry Missed only.
type Event struct {
	Time        time.Time `json:"time"`
	Type        string    `json:"type"`
	Verdict     string    `json:"verdict,omitempty"` // deny, audit_deny; request events: the status class is in Status
	Source      *Peer     `json:"source,omitempty"`
	Destination *Peer     `json:"destination,omitempty"`
	Method      string    `json:"method,omitempty"`
	Path        string    `json:"path,omitempty"`
	Namespace   string    `json:"namespace,omitempty"` // the policy's
	Policy      string    `json:"policy,omitempty"`
	Rule        string    `json:"rule,omitempty"`
	Mode        string    `json:"mode,omitempty"` // Enforce or Audit
	Reason      string    `json:"reason,omitempty"`
	Status      int       `json:"status,omitempty"`
	LatencyMs   float64   `json:"latency_ms,omitempty"`
	Side        string    `json:"side,omitempty"` // request events: server or client
	Missed      uint64    `json:"missed,omitempty"`
}
