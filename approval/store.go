package approval

import (
	"context"
	"errors"
	"time"
)

// Errors returned by an [ApprovalStore] and by [Service.Review]. Use
// [Message] to turn one into the text shown to a reviewer.
var (
	// ErrNotFound is returned when the organisation has no request with
	// the given ID, including when another organisation has one: a
	// request of another organisation does not exist for the caller.
	ErrNotFound = errors.New("approval: request not found")
	// ErrNotPending is returned by DecideApproval when the request has
	// already left StatusPending; the Request returned with it is the
	// current one, so its Status tells the caller what happened. The
	// errors [Service.Review] returns for a request approved or denied
	// before match it too ([Message] says "Already approved" or "Already
	// denied").
	ErrNotPending = errors.New("approval: request is not pending")
	// ErrExpired is returned when the request's deadline has passed.
	ErrExpired = errors.New("approval: request has expired")
	// ErrConflict is returned by CreateApproval when the organisation
	// already has a request with the ID.
	ErrConflict = errors.New("approval: request ID already exists")
)

// Outcome is what [ApprovalStore.DecideApproval] records on a pending
// request.
type Outcome struct {
	// Status is StatusApproved, StatusDenied or StatusExpired.
	Status Status
	// At is when the decision was made, in UTC. For StatusApproved and
	// StatusDenied it is also the instant at which the request must not
	// yet have expired.
	At         time.Time
	ReviewedBy string
	ReviewerID string
	Source     Source
	Notes      string
}

// ApprovalStore keeps approval requests. Implementations must be safe for
// concurrent use, including by several processes sharing one database.
//
// Every read and decision is scoped to an organisation: a request is
// identified by its OrgID and its ID together. IDs are unique per
// organisation, so the same ID in two organisations names two unrelated
// requests, and a call naming one organisation never reads, changes or
// reveals a request of another: it returns ErrNotFound, exactly as for
// an ID nobody uses, never ErrConflict or any other sign that the ID
// exists elsewhere.
type ApprovalStore interface {
	// CreateApproval stores r as a new pending request of r.OrgID and
	// returns it as stored. r.OrgID is required; an empty one is an
	// error. An empty r.ID is replaced by a new unique ID. An ID that
	// r.OrgID already uses returns ErrConflict; an ID used only by other
	// organisations is not a conflict and creates a separate request.
	// Status is set to StatusPending, review fields are cleared, and an
	// unset CreatedAt becomes the current time. Times are stored in UTC.
	CreateApproval(ctx context.Context, r Request) (Request, error)

	// GetApproval returns the request id of organisation orgID. It
	// returns ErrNotFound when orgID has no such request, whether or not
	// another organisation has one with that ID.
	GetApproval(ctx context.Context, orgID, id string) (Request, error)

	// DecideApproval moves the request id of organisation orgID out of
	// StatusPending into o.Status, recording o's reviewer, source, notes
	// and time, and returns the updated request. o.Status must be
	// StatusApproved, StatusDenied or StatusExpired; any other status is
	// an error. It is atomic: of any number of concurrent calls for one
	// request, from any number of processes, exactly one succeeds. The
	// others, and any later call, return the current request with
	// ErrNotPending. It returns ErrNotFound when orgID has no such
	// request (another organisation's request with the same ID is never
	// changed). For StatusApproved and StatusDenied it succeeds only
	// while the request has not expired at o.At; otherwise it changes
	// nothing and returns the current request with ErrExpired.
	// Implementations must make the check and the change one conditional
	// write (for SQL, UPDATE … WHERE org_id = ? AND id = ? AND status =
	// 'pending' …), never a read followed by a write.
	DecideApproval(ctx context.Context, orgID, id string, o Outcome) (Request, error)
}

// Audit actions written by [Service].
const (
	AuditReviewed = "approval.reviewed"
	AuditExpired  = "approval.expired"
)

// AuditEntry is one line of the audit trail.
type AuditEntry struct {
	ID         string    `json:"id"`
	OrgID      string    `json:"org_id"`
	Action     string    `json:"action"` // AuditReviewed or AuditExpired
	ApprovalID string    `json:"approval_id"`
	At         time.Time `json:"at"`
	// Actor is the reviewer's display name and ActorID their platform ID;
	// both are empty for an expiry.
	Actor    string `json:"actor,omitempty"`
	ActorID  string `json:"actor_id,omitempty"`
	Verified bool   `json:"actor_verified"`
	Source   Source `json:"source,omitempty"`
	// Decision is the resulting status.
	Decision  Status `json:"decision"`
	RiskScore int    `json:"risk_score"`
	Notes     string `json:"notes,omitempty"`
}

// AuditLogger records audit entries. Implementations must be safe for
// concurrent use.
type AuditLogger interface {
	// LogAudit appends e to the trail. An empty e.ID is replaced by a new
	// unique ID and a zero e.At by the current time.
	LogAudit(ctx context.Context, e AuditEntry) error
}

// AuditFilter selects entries for [AuditLister.ListAudit].
type AuditFilter struct {
	ApprovalID string // only entries of this request, when set
	Limit      int    // at most this many, newest first; 0 means 100
}

// AuditLister is implemented by audit loggers that can also read the
// trail back, as the reference stores do.
type AuditLister interface {
	// ListAudit returns the entries of orgID matching f, newest first (by
	// At, then by insertion order), and never an entry of another
	// organisation, even for an ApprovalID that both use.
	ListAudit(ctx context.Context, orgID string, f AuditFilter) ([]AuditEntry, error)
}

// ExpiryLister is implemented by approval stores that can find the
// pending requests whose deadline has passed, as the reference stores do.
// [Service.ExpireDue] needs it to sweep expired requests without a click.
type ExpiryLister interface {
	// ListExpired returns at most limit requests, of every organisation,
	// that are pending and whose ExpiresAt is not after now (due at now,
	// as [Request.Expired] says), oldest deadline first; the order of
	// requests sharing a deadline is unspecified. Each is returned as
	// stored, with at least its OrgID and ID set, so that the caller can
	// address it. Requests without a deadline are never listed. now is
	// compared as an instant, whatever its location. When no request is
	// due it returns an empty (possibly nil) slice and a nil error.
	// Callers pass a limit of at least 1. It only reads: listing a
	// request does not change it.
	ListExpired(ctx context.Context, now time.Time, limit int) ([]Request, error)
}
