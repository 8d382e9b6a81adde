package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by [Service.Review] besides those of the store. Each
// maps to a reviewer-facing text through [Message].
var (
	// ErrAlreadyApproved and ErrAlreadyDenied are returned when the
	// request was decided before; both match ErrNotPending with errors.Is.
	ErrAlreadyApproved = fmt.Errorf("approval: already approved: %w", ErrNotPending)
	ErrAlreadyDenied   = fmt.Errorf("approval: already denied: %w", ErrNotPending)
	// ErrNotAllowed is returned when the reviewer policy refuses the
	// reviewer; the policy's own error is wrapped with it.
	ErrNotAllowed = errors.New("approval: reviewer is not allowed to decide this request")
	// ErrSelfApproval is returned when the reviewer resolves to the user
	// who asked for the request.
	ErrSelfApproval = errors.New("approval: reviewers cannot decide their own request")
	// ErrInvalid is returned for a malformed call: an unknown decision, a
	// reviewer without name or ID, or a request that cannot be created.
	ErrInvalid = errors.New("approval: invalid input")
)

// Message returns the text shown to a reviewer for an error of
// [Service.Review]: the spec's wording for the processing errors ("Approval
// request not found", "Already approved", "Already denied", "Approval
// request has expired") and a generic sentence for anything unexpected, so
// that internal error text never reaches a chat message.
func Message(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNotFound):
		return "Approval request not found"
	case errors.Is(err, ErrAlreadyApproved):
		return "Already approved"
	case errors.Is(err, ErrAlreadyDenied):
		return "Already denied"
	case errors.Is(err, ErrExpired):
		return "Approval request has expired"
	case errors.Is(err, ErrSelfApproval):
		return "You cannot review your own request"
	case errors.Is(err, ErrNotAllowed):
		return "You are not allowed to review this request"
	case errors.Is(err, ErrInvalid):
		return "Invalid approval decision"
	}
	return "The decision could not be recorded; please try again"
}

// ReviewerPolicy decides whether rv may decide r from src. It returns nil
// to allow the decision and an error to refuse it; [Service.Review] then
// returns that error wrapped with ErrNotAllowed. A typical policy maps the
// Slack or Teams user to a host user and checks an approver role.
type ReviewerPolicy func(ctx context.Context, r Request, rv Reviewer, src Source) error

// UserResolver maps a platform reviewer to the host's user ID, the same
// kind of ID the host puts in [Request.RequestedBy]. It returns "" when
// the reviewer is unknown to the host.
type UserResolver func(ctx context.Context, rv Reviewer, src Source) (string, error)

// Options configures a [Service]. The zero value is the spec's behaviour.
type Options struct {
	// Policy, when set, is asked before every decision. Defaults to nil:
	// anyone who can see the buttons may decide, as the spec describes.
	// Hosts should set one: a chat channel's membership is rarely the same
	// set of people as the host's approvers, and a forwarded message
	// reaches others.
	Policy ReviewerPolicy
	// ResolveUser, when set, turns on self-approval blocking: a reviewer
	// who resolves to the request's RequestedBy is refused with
	// ErrSelfApproval. Defaults to nil (no check).
	ResolveUser UserResolver
	// OnDecided is called after a request leaves pending through this
	// service (approved, denied or expired), with the request as stored.
	// It runs on the reviewer's request path, so it must return quickly
	// and hand slow work (such as editing chat messages) to the
	// background. Defaults to nil.
	OnDecided func(ctx context.Context, r Request)
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Logger receives audit failures and policy refusals. Defaults to a
	// logger that discards everything.
	Logger *slog.Logger
}

// Service is the one approval routine that Slack, Teams and the host's own
// API all go through. It is safe for concurrent use.
type Service struct {
	store ApprovalStore
	audit AuditLogger
	opts  Options
}

// NewService returns a Service deciding requests in store and writing the
// trail to audit. opts may be nil.
func NewService(store ApprovalStore, audit AuditLogger, opts *Options) (*Service, error) {
	if store == nil || audit == nil {
		return nil, errors.New("approval: NewService needs a store and an audit logger")
	}
	s := &Service{store: store, audit: audit}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Limits enforced by [Service.Create].
const (
	MaxTitleLength       = 200   // characters
	MaxDescriptionLength = 10000 // characters
)

// Create validates r and stores it as a new pending request. The title is
// required; the risk score must be within 0–100; a deadline, when set,
// must be in the future. Validation errors wrap ErrInvalid and their text
// (after the "approval: invalid input: " prefix) is safe to show to the
// caller.
func (s *Service) Create(ctx context.Context, r Request) (Request, error) {
	r.Title = strings.TrimSpace(r.Title)
	now := s.opts.Now()
	switch {
	case r.OrgID == "":
		return Request{}, fmt.Errorf("%w: org_id is required", ErrInvalid)
	case r.Title == "":
		return Request{}, fmt.Errorf("%w: title is required", ErrInvalid)
	case utf8.RuneCountInString(r.Title) > MaxTitleLength:
		return Request{}, fmt.Errorf("%w: title must be at most %d characters", ErrInvalid, MaxTitleLength)
	case utf8.RuneCountInString(r.Description) > MaxDescriptionLength:
		return Request{}, fmt.Errorf("%w: description must be at most %d characters", ErrInvalid, MaxDescriptionLength)
	case r.RiskScore < 0 || r.RiskScore > 100:
		return Request{}, fmt.Errorf("%w: risk_score must be between 0 and 100", ErrInvalid)
	case !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now):
		return Request{}, fmt.Errorf("%w: expires_at must be in the future", ErrInvalid)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	r.CreatedAt = r.CreatedAt.UTC()
	if !r.ExpiresAt.IsZero() {
		r.ExpiresAt = r.ExpiresAt.UTC()
	}
	return s.store.CreateApproval(ctx, r)
}

// Get returns the request id, or ErrNotFound. Handlers use it to show a
// request before a decision (the Teams confirmation page); it changes
// nothing, not even a request past its deadline.
func (s *Service) Get(ctx context.Context, id string) (Request, error) {
	if id == "" {
		return Request{}, ErrNotFound
	}
	return s.store.GetApproval(ctx, id)
}

// Review records reviewer rv's decision d on the request id, made from
// src, following the spec's processing logic:
//
//  1. a missing request returns ErrNotFound;
//  2. a request already decided returns ErrAlreadyApproved,
//     ErrAlreadyDenied or ErrExpired;
//  3. a request past its deadline is marked expired (once, audited as
//     [AuditExpired]) and returns ErrExpired;
//  4. otherwise, after the optional policy and self-approval checks, the
//     decision, reviewer and source are recorded with review notes such as
//     "Approved by amy via Slack", and audited as [AuditReviewed].
//
// Steps 2 to 4 rest on the store's atomic DecideApproval, so of many
// concurrent reviews of one request exactly one succeeds. On success it
// returns the decided request; on a processing error it returns the
// current request (when there is one) with the error.
func (s *Service) Review(ctx context.Context, id string, d Decision, rv Reviewer, src Source) (Request, error) {
	st := d.Status()
	if st == "" {
		return Request{}, fmt.Errorf("%w: unknown decision %q", ErrInvalid, d)
	}
	rv.Name = strings.TrimSpace(rv.Name)
	if rv.Name == "" {
		rv.Name = rv.ID
	}
	if rv.Name == "" {
		return Request{}, fmt.Errorf("%w: reviewer has no name or ID", ErrInvalid)
	}
	if id == "" {
		return Request{}, ErrNotFound
	}
	r, err := s.store.GetApproval(ctx, id)
	if err != nil {
		return Request{}, err
	}
	if r.Status != StatusPending {
		return r, statusError(r.Status)
	}
	now := s.opts.Now().UTC()
	if r.Expired(now) {
		return s.expire(ctx, r, now)
	}
	if err := s.allowed(ctx, r, rv, src); err != nil {
		s.opts.Logger.WarnContext(ctx, "approval: reviewer refused",
			"approval_id", id, "reviewer", rv.Name, "reviewer_id", rv.ID, "source", src, "err", err)
		return r, err
	}
	o := Outcome{
		Status:     st,
		At:         now,
		ReviewedBy: rv.Name,
		ReviewerID: rv.ID,
		Source:     src,
		Notes:      ReviewNotes(st, rv.Name, src),
	}
	decided, err := s.store.DecideApproval(ctx, id, o)
	switch {
	case errors.Is(err, ErrNotPending):
		return decided, statusError(decided.Status)
	case errors.Is(err, ErrExpired):
		return s.expire(ctx, decided, now)
	case err != nil:
		return r, err
	}
	s.log(ctx, AuditEntry{
		OrgID:      decided.OrgID,
		Action:     AuditReviewed,
		ApprovalID: decided.ID,
		At:         now,
		Actor:      rv.Name,
		ActorID:    rv.ID,
		Verified:   rv.Verified,
		Source:     src,
		Decision:   st,
		RiskScore:  decided.RiskScore,
		Notes:      o.Notes,
	})
	s.decided(ctx, decided)
	return decided, nil
}

// Expire marks the request id expired if it is still pending and past its
// deadline, auditing it as [AuditExpired]. Hosts may call it from a
// periodic sweep so that expired requests are shown as such in chat
// without waiting for a click; [Service.ExpireDue] is that sweep, for
// stores that can list the requests due. It returns the expired request
// and nil when the request is expired now, by this call or a concurrent
// one; the error Review gives when it was decided before
// (ErrAlreadyApproved or ErrAlreadyDenied, both matching ErrNotPending,
// or ErrExpired); ErrNotFound when there is no such request; and the
// request unchanged with nil when it is pending but not yet due.
func (s *Service) Expire(ctx context.Context, id string) (Request, error) {
	r, _, err := s.expireID(ctx, id)
	return r, err
}

// expireID is Expire, also reporting whether this call marked the
// request expired (rather than a concurrent one).
func (s *Service) expireID(ctx context.Context, id string) (Request, bool, error) {
	r, err := s.store.GetApproval(ctx, id)
	if err != nil {
		return Request{}, false, err
	}
	if r.Status != StatusPending {
		return r, false, statusError(r.Status)
	}
	now := s.opts.Now().UTC()
	if !r.Expired(now) {
		return r, false, nil
	}
	r, marked, err := s.markExpired(ctx, r, now)
	if errors.Is(err, ErrExpired) && r.Status == StatusExpired {
		return r, marked, nil
	}
	return r, marked, err
}

// expire marks r expired once and returns ErrExpired, or the status error
// of whoever decided r first.
func (s *Service) expire(ctx context.Context, r Request, now time.Time) (Request, error) {
	r, _, err := s.markExpired(ctx, r, now)
	return r, err
}

// markExpired is expire, also reporting whether this call made the change
// (and so wrote the audit entry and called OnDecided).
func (s *Service) markExpired(ctx context.Context, r Request, now time.Time) (Request, bool, error) {
	o := Outcome{Status: StatusExpired, At: now, Notes: "Expired before review"}
	expired, err := s.store.DecideApproval(ctx, r.ID, o)
	switch {
	case errors.Is(err, ErrNotPending):
		return expired, false, statusError(expired.Status)
	case err != nil:
		return r, false, err
	}
	s.log(ctx, AuditEntry{
		OrgID:      expired.OrgID,
		Action:     AuditExpired,
		ApprovalID: expired.ID,
		At:         now,
		Decision:   StatusExpired,
		RiskScore:  expired.RiskScore,
		Notes:      o.Notes,
	})
	s.decided(ctx, expired)
	return expired, true, ErrExpired
}

func (s *Service) allowed(ctx context.Context, r Request, rv Reviewer, src Source) error {
	if s.opts.ResolveUser != nil && r.RequestedBy != "" {
		user, err := s.opts.ResolveUser(ctx, rv, src)
		if err != nil {
			return fmt.Errorf("%w: resolving reviewer: %w", ErrNotAllowed, err)
		}
		if user != "" && user == r.RequestedBy {
			return ErrSelfApproval
		}
	}
	if s.opts.Policy != nil {
		if err := s.opts.Policy(ctx, r, rv, src); err != nil {
			return fmt.Errorf("%w: %w", ErrNotAllowed, err)
		}
	}
	return nil
}

// log writes an audit entry. The decision has already been recorded, so a
// failure cannot undo it; the entry goes to the logger at error level,
// complete, so that it is not lost.
func (s *Service) log(ctx context.Context, e AuditEntry) {
	if err := s.audit.LogAudit(ctx, e); err != nil {
		s.opts.Logger.ErrorContext(ctx, "approval: audit entry could not be stored",
			"err", err, "action", e.Action, "approval_id", e.ApprovalID, "org_id", e.OrgID,
			"actor", e.Actor, "actor_id", e.ActorID, "source", e.Source, "decision", e.Decision,
			"risk_score", e.RiskScore, "at", e.At)
	}
}

func (s *Service) decided(ctx context.Context, r Request) {
	if s.opts.OnDecided != nil {
		s.opts.OnDecided(ctx, r)
	}
}

// statusError maps the status of a request that is no longer pending to
// the error Review returns for it.
func statusError(st Status) error {
	switch st {
	case StatusApproved:
		return ErrAlreadyApproved
	case StatusDenied:
		return ErrAlreadyDenied
	case StatusExpired:
		return ErrExpired
	}
	return ErrNotPending
}

// ReviewNotes returns the review notes recorded for a decision, such as
// "Approved by amy via Slack".
func ReviewNotes(st Status, reviewer string, src Source) string {
	verb := "Approved"
	if st == StatusDenied {
		verb = "Denied"
	}
	return verb + " by " + reviewer + " via " + src.Title()
}
