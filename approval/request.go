package approval

import "time"

// Status is where an approval request stands.
type Status string

// The statuses of a request. Only a pending request can change, and it
// changes once.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusDenied   Status = "denied"
	StatusExpired  Status = "expired"
)

// Decision is a reviewer's answer to a request.
type Decision string

// The two decisions a reviewer can make.
const (
	Approve Decision = "approve"
	Deny    Decision = "deny"
)

// status returns the status a request takes when d is recorded, or ""
// for an unknown decision.
func (d Decision) status() Status {
	switch d {
	case Approve:
		return StatusApproved
	case Deny:
		return StatusDenied
	}
	return ""
}

// Source is where a decision was made.
type Source string

// The sources of a decision. SourceAPI is for hosts deciding from their
// own UI or REST API.
const (
	SourceSlack Source = "slack"
	SourceTeams Source = "teams"
	SourceAPI   Source = "api"
)

// Title returns the source as written in review notes: "Slack", "Teams",
// "API".
func (s Source) Title() string {
	switch s {
	case SourceSlack:
		return "Slack"
	case SourceTeams:
		return "Teams"
	case SourceAPI:
		return "API"
	}
	return string(s)
}

// Reviewer is the person who clicked, as the platform names them.
type Reviewer struct {
	// ID is the platform's user ID: a Slack user ID (U…), a Teams AAD
	// object ID, or the host's user ID for SourceAPI.
	ID string `json:"id,omitempty"`
	// Name is the display name shown in messages and review notes.
	Name string `json:"name"`
	// Verified reports whether the identity was authenticated by the
	// platform or the host (a signed Slack request, a Teams token, a host
	// session) rather than typed in by the reviewer.
	Verified bool `json:"verified"`
}

// Request is an approval request: an action an agent wants to take that a
// person must approve or deny before its deadline.
type Request struct {
	ID          string `json:"id"`
	OrgID       string `json:"org_id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// Agent names the agent asking; Action what it wants to do.
	Agent  string `json:"agent,omitempty"`
	Action string `json:"action,omitempty"`
	// RiskScore runs from 0 (harmless) to 100 (critical).
	RiskScore   int       `json:"risk_score"`
	RequestedBy string    `json:"requested_by,omitempty"`
	ConsoleURL  string    `json:"console_url,omitempty"`
	Status      Status    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	// ExpiresAt is the deadline; the zero time means the request never
	// expires.
	ExpiresAt    time.Time  `json:"expires_at,omitzero"`
	ReviewedAt   *time.Time `json:"reviewed_at,omitempty"`
	ReviewedBy   string     `json:"reviewed_by,omitempty"`
	ReviewerID   string     `json:"reviewer_id,omitempty"`
	ReviewSource Source     `json:"review_source,omitempty"`
	ReviewNotes  string     `json:"review_notes,omitempty"`
}

// Expired reports whether the request's deadline has passed at now.
func (r Request) Expired(now time.Time) bool {
	return !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

// RiskLevel buckets RiskScore for display: "low" (< 40), "medium"
// (< 70), "high" (< 90) or "critical".
func (r Request) RiskLevel() string {
	switch {
	case r.RiskScore >= 90:
		return "critical"
	case r.RiskScore >= 70:
		return "high"
	case r.RiskScore >= 40:
		return "medium"
	}
	return "low"
}
