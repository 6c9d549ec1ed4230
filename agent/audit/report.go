package audit

import "time"

// Report is the agent's answer on GET /v1/denials: the policies in force
// with their decision counts, and every denial series, since the agent
// started. `axon audit report` merges the reports of several agents.
type Report struct {
	Agent    string    `json:"agent,omitempty"` // where it came from (set by the client)
	Since    time.Time `json:"since"`           // when the agent started counting
	Now      time.Time `json:"now"`
	Policies []Policy  `json:"policies"`
	Denials  []Series  `json:"denials"`
}

// Policy is one policy of the table in force and its decisions since the
// agent started (rules and default together).
type Policy struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Mode      string `json:"mode"` // Enforce or Audit
	// ChangedAt is when this agent applied the policy as it is now (its
	// rules, modes or actions last changed), or started.
	ChangedAt   time.Time `json:"changed_at"`
	Allowed     uint64    `json:"allowed"`
	Denied      uint64    `json:"denied"`
	AuditDenied uint64    `json:"audit_denied"`
}
