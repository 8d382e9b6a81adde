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
	// ErrNotAllowed is returned when the reviewer may not decide the
	// request: the reviewer policy refused them (the policy's own error
	// is wrapped with it), or they resolve to the user who asked for the
	// request (self-approval, see [Options.ResolveUser]).
	ErrNotAllowed = errors.New("approval: reviewer is not allowed to decide this request")
	// ErrInvalid is returned for a malformed call: an unknown decision, a
	// reviewer without name or ID, or a request that cannot be created.
	ErrInvalid = errors.New("approval: invalid input")
)

// The errors of a request decided before, or of a self-approval: they
// match ErrNotPending or ErrNotAllowed with errors.Is, and [Message]
// tells them apart.
var (
	errAlreadyApproved = fmt.Errorf("approval: already approved: %w", ErrNotPending)
	errAlreadyDenied   = fmt.Errorf("approval: already denied: %w", ErrNotPending)
	errSelfApproval    = fmt.Errorf("approval: reviewers cannot decide their own request: %w", ErrNotAllowed)
)

// Message returns the text shown to a reviewer for an error of
// [Service.Review]: the spec's wording for the processing errors ("Approval
// request not found", "Already approved", "Already denied", "Approval
// request has expired"), "You cannot review your own request", "You are
// not allowed to review this request", "Invalid approval decision", and a
// generic sentence for anything unexpected, so that internal error text
// never reaches a chat message.
func Message(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNotFound):
		return "Approval request not found"
	case errors.Is(err, errAlreadyApproved):
		return "Already approved"
	case errors.Is(err, errAlreadyDenied):
		return "Already denied"
	case errors.Is(err, ErrExpired):
		return "Approval request has expired"
	case errors.Is(err, errSelfApproval):
		return "You cannot review your own request"
	case errors.Is(err, ErrNotAllowed):
		return "You are not allowed to review this request"
	case errors.Is(err, ErrInvalid):
		return "Invalid approval decision"
	}
	return "The decision could not be recorded; please try again"
}

// FollowUp is outbound work that a decision or a click leaves behind.
// Package approval sends nothing itself: it hands each FollowUp to
// [Options.FollowUp], which the host wires to the component that
// delivers chat messages (package notify's Dispatcher).
type FollowUp struct {
	// Request is the request as stored after the call, with its OrgID,
	// ID and status. It is the zero Request for a warning about a click
	// that named no request the clicker may see.
	Request Request
	// Decided reports that this call moved the request out of pending
	// (approved, denied or expired), so every copy of it posted in chat
	// (Slack messages, Teams cards) must be brought up to date. The
	// [Service] sends a Decided FollowUp for every decision and expiry
	// it records, whatever the source: Slack, Teams, the host's API or
	// the expiry sweep.
	Decided bool
	// ResponseURL is the response_url of a Slack click, exactly as Slack
	// sent it (the receiver must check it before use), set by the
	// Slack handler ([NewSlackHandler]) in a FollowUp of its own after the decision. With
	// Warning empty, the clicked message is to be replaced with the
	// request's result (an expiry included); with Warning set, Warning is
	// to be shown to the clicker only (ephemeral) and the original
	// message left as it is.
	ResponseURL string
	// Warning is the plain text shown to the clicker, the [Message] of
	// the error that stopped the decision; the renderer adds the
	// platform's warning sign and escapes it.
	Warning string
}

// Options configures a [Service]. The zero value is the spec's behaviour.
type Options struct {
	// Signer mints and checks the action tokens of Teams links and
	// buttons; [NewTeamsHandler] refuses to build without one, and the
	// host gives the same Signer to whatever renders Teams cards.
	// Defaults to nil (no Teams handler).
	Signer *Signer
	// Policy, when set, is asked before every decision whether reviewer
	// rv may decide r from src. It returns nil to allow the decision and
	// an error to refuse it; [Service.Review] then returns that error
	// wrapped with ErrNotAllowed. A typical policy maps the Slack or
	// Teams user to a host user and checks an approver role. Defaults to
	// nil: anyone who can see the buttons may decide, as the spec
	// describes. Hosts should set one: a chat channel's membership is
	// rarely the same set of people as the host's approvers, and a
	// forwarded message reaches others.
	Policy func(ctx context.Context, r Request, rv Reviewer, src Source) error
	// ResolveUser, when set, maps a platform reviewer to the host's user
	// ID (the kind of ID the host puts in [Request.RequestedBy]; "" when
	// the reviewer is unknown to the host) and so turns on self-approval
	// blocking: a reviewer who resolves to the request's RequestedBy is
	// refused with an error matching ErrNotAllowed ("You cannot review
	// your own request"), as is one it fails to resolve. Defaults to nil
	// (no check).
	ResolveUser func(ctx context.Context, rv Reviewer, src Source) (string, error)
	// FollowUp receives the outbound work of decisions and clicks (see
	// [FollowUp]): the one hook through which chat messages are updated.
	// It runs on the caller's path (a click's request, the sweep), so it
	// must return quickly and queue the work, as notify's Dispatcher
	// does. Defaults to nil: nothing is sent after a decision.
	FollowUp func(ctx context.Context, f FollowUp)
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
	maxTitleLength       = 200   // characters
	maxDescriptionLength = 10000 // characters
)

// Create validates r and stores it as a new pending request. The
// organisation and the title are required; the title may have at most
// 200 characters and the description 10,000; the risk score must be
// within 0–100; a deadline, when set, must be in the future. Validation
// errors wrap ErrInvalid and their text (after the "approval: invalid
// input: " prefix) is safe to show to the caller.
func (s *Service) Create(ctx context.Context, r Request) (Request, error) {
	r.Title = strings.TrimSpace(r.Title)
	now := s.opts.Now()
	switch {
	case r.OrgID == "":
		return Request{}, fmt.Errorf("%w: org_id is required", ErrInvalid)
	case r.Title == "":
		return Request{}, fmt.Errorf("%w: title is required", ErrInvalid)
	case utf8.RuneCountInString(r.Title) > maxTitleLength:
		return Request{}, fmt.Errorf("%w: title must be at most %d characters", ErrInvalid, maxTitleLength)
	case utf8.RuneCountInString(r.Description) > maxDescriptionLength:
		return Request{}, fmt.Errorf("%w: description must be at most %d characters", ErrInvalid, maxDescriptionLength)
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

// Get returns the request id of organisation orgID, or ErrNotFound
// (also when only another organisation has a request with that ID).
// Handlers use it to show a request before a decision (the Teams
// confirmation page); it changes nothing, not even a request past its
// deadline.
func (s *Service) Get(ctx context.Context, orgID, id string) (Request, error) {
	if orgID == "" || id == "" {
		return Request{}, ErrNotFound
	}
	return s.store.GetApproval(ctx, orgID, id)
}

// Review records reviewer rv's decision d on the request id of
// organisation orgID, made from src, following the spec's processing
// logic:
//
//  1. a missing request, or one of another organisation, returns
//     ErrNotFound;
//  2. a request already decided returns, with the current request, an
//     error matching ErrNotPending ("Already approved" or "Already
//     denied") or ErrExpired;
//  3. a request past its deadline is marked expired (once, audited as
//     [AuditExpired]) and returns ErrExpired;
//  4. otherwise, after the optional policy and self-approval checks
//     (refusals match ErrNotAllowed), the
//     decision, reviewer and source are recorded with review notes such as
//     "Approved by amy via Slack", and audited as [AuditReviewed].
//
// Steps 2 to 4 rest on the store's atomic DecideApproval, so of many
// concurrent reviews of one request exactly one succeeds; that one (or
// the expiry of step 3) is handed to [Options.FollowUp] as Decided. On
// success it returns the decided request; on a processing error it
// returns the current request (when there is one) with the error.
func (s *Service) Review(ctx context.Context, orgID, id string, d Decision, rv Reviewer, src Source) (Request, error) {
	st := d.status()
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
	r, err := s.Get(ctx, orgID, id)
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
			"org_id", orgID, "approval_id", id, "reviewer", rv.Name, "reviewer_id", rv.ID, "source", src, "err", err)
		return r, err
	}
	o := Outcome{
		Status:     st,
		At:         now,
		ReviewedBy: rv.Name,
		ReviewerID: rv.ID,
		Source:     src,
		Notes:      reviewNotes(st, rv.Name, src),
	}
	decided, err := s.store.DecideApproval(ctx, orgID, id, o)
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

// Expire marks the request id of organisation orgID expired if it is
// still pending and past its deadline, auditing it as [AuditExpired] and
// handing it to [Options.FollowUp] as Decided. [Service.ExpireDue] is the
// periodic sweep built on it, for stores that can list the requests due.
// It returns the expired request and nil when the request is expired
// now, by this call or a concurrent one; the error Review gives when it
// was decided before (matching ErrNotPending or ErrExpired); ErrNotFound
// when orgID has no such request; and the request unchanged with nil
// when it is pending but not yet due.
func (s *Service) Expire(ctx context.Context, orgID, id string) (Request, error) {
	r, _, err := s.expireID(ctx, orgID, id)
	return r, err
}

// expireID is Expire, also reporting whether this call marked the
// request expired (rather than a concurrent one).
func (s *Service) expireID(ctx context.Context, orgID, id string) (Request, bool, error) {
	r, err := s.Get(ctx, orgID, id)
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
// (and so wrote the audit entry and handed the FollowUp over).
func (s *Service) markExpired(ctx context.Context, r Request, now time.Time) (Request, bool, error) {
	o := Outcome{Status: StatusExpired, At: now, Notes: "Expired before review"}
	expired, err := s.store.DecideApproval(ctx, r.OrgID, r.ID, o)
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
			return errSelfApproval
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

// decided hands the FollowUp of a decision or expiry to the host.
func (s *Service) decided(ctx context.Context, r Request) {
	s.followUp(ctx, FollowUp{Request: r, Decided: true})
}

// followUp hands f to Options.FollowUp, when set.
func (s *Service) followUp(ctx context.Context, f FollowUp) {
	if s.opts.FollowUp != nil {
		s.opts.FollowUp(ctx, f)
	}
}

// statusError maps the status of a request that is no longer pending to
// the error Review returns for it.
func statusError(st Status) error {
	switch st {
	case StatusApproved:
		return errAlreadyApproved
	case StatusDenied:
		return errAlreadyDenied
	case StatusExpired:
		return ErrExpired
	}
	return ErrNotPending
}

// reviewNotes returns the review notes recorded for a decision, such as
// "Approved by amy via Slack".
func reviewNotes(st Status, reviewer string, src Source) string {
	verb := "Approved"
	if st == StatusDenied {
		verb = "Denied"
	}
	return verb + " by " + reviewer + " via " + src.Title()
}
