package memstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/ids"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/teams"
)

var (
	_ notify.ChannelStore    = (*Store)(nil)
	_ notify.PostStore       = (*Store)(nil)
	_ approval.ApprovalStore = (*Store)(nil)
	_ approval.AuditLogger   = (*Store)(nil)
	_ approval.AuditLister   = (*Store)(nil)
	_ approval.ExpiryLister  = (*Store)(nil)
)

// Store keeps channels, approval requests, posts, the deliveries log,
// the audit trail and the Teams bot's conversations in memory.
type Store struct {
	now func() time.Time

	chMu     sync.RWMutex
	channels map[string]notify.Channel // by ID

	apMu      sync.RWMutex
	approvals map[key]*approval.Request

	postMu sync.RWMutex
	posts  map[key][]notify.Post // by the request's key

	auditMu sync.RWMutex
	// audit holds the trail in fixed-size chunks, so that appending never
	// copies the entries written before.
	audit [][]approval.AuditEntry

	deliveries *deliveryLog

	convMu        sync.RWMutex
	conversations map[key]teams.Conversation // by organisation and conversation ID
}

// key names a record of one organisation: request IDs are unique per
// organisation, so the same ID in two organisations is two requests.
type key struct{ org, id string }

// auditChunk is the number of entries in one chunk of Store.audit.
const auditChunk = 1024

// New returns an empty Store.
func New() *Store {
	s := &Store{
		now:       time.Now,
		channels:  make(map[string]notify.Channel),
		approvals: make(map[key]*approval.Request),
		posts:     make(map[key][]notify.Post),

		conversations: make(map[key]teams.Conversation),
	}
	s.deliveries = &deliveryLog{
		now:       func() time.Time { return s.now() },
		byID:      make(map[key]*notify.Delivery),
		byChannel: make(map[key]map[string]struct{}),
	}
	return s
}

func (s *Store) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// ListChannels implements [notify.ChannelStore].
func (s *Store) ListChannels(ctx context.Context, orgID string) ([]notify.Channel, error) {
	s.chMu.RLock()
	out := []notify.Channel{}
	for _, ch := range s.channels {
		if ch.OrgID == orgID {
			out = append(out, cloneChannel(ch))
		}
	}
	s.chMu.RUnlock()
	slices.SortFunc(out, func(a, b notify.Channel) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// GetChannel implements [notify.ChannelStore].
func (s *Store) GetChannel(ctx context.Context, orgID, id string) (notify.Channel, error) {
	s.chMu.RLock()
	defer s.chMu.RUnlock()
	ch, ok := s.channels[id]
	if !ok || ch.OrgID != orgID {
		return notify.Channel{}, notify.ErrNotFound
	}
	return cloneChannel(ch), nil
}

// CreateChannel implements [notify.ChannelStore].
func (s *Store) CreateChannel(ctx context.Context, ch notify.Channel) (notify.Channel, error) {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	if s.nameTaken(ch.OrgID, ch.Name, "") {
		return notify.Channel{}, notify.ErrConflict
	}
	ch = cloneChannel(ch)
	ch.ID = ids.New()
	ch.CreatedAt = s.timestamp()
	ch.UpdatedAt = ch.CreatedAt
	s.channels[ch.ID] = ch
	return cloneChannel(ch), nil
}

// UpdateChannel implements [notify.ChannelStore].
func (s *Store) UpdateChannel(ctx context.Context, ch notify.Channel) (notify.Channel, error) {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	old, ok := s.channels[ch.ID]
	if !ok || old.OrgID != ch.OrgID {
		return notify.Channel{}, notify.ErrNotFound
	}
	if s.nameTaken(ch.OrgID, ch.Name, ch.ID) {
		return notify.Channel{}, notify.ErrConflict
	}
	old.Type, old.Name, old.Config, old.Events, old.Enabled = ch.Type, ch.Name, ch.Config, slices.Clone(ch.Events), ch.Enabled
	old.UpdatedAt = s.timestamp()
	if old.UpdatedAt.Before(old.CreatedAt) {
		old.UpdatedAt = old.CreatedAt
	}
	s.channels[ch.ID] = old
	return cloneChannel(old), nil
}

// DeleteChannel implements [notify.ChannelStore].
func (s *Store) DeleteChannel(ctx context.Context, orgID, id string) error {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	ch, ok := s.channels[id]
	if !ok || ch.OrgID != orgID {
		return notify.ErrNotFound
	}
	delete(s.channels, id)
	return nil
}

// nameTaken reports whether another channel of orgID than except is named
// name. The caller holds chMu.
func (s *Store) nameTaken(orgID, name, except string) bool {
	for id, ch := range s.channels {
		if id != except && ch.OrgID == orgID && ch.Name == name {
			return true
		}
	}
	return false
}

func cloneChannel(ch notify.Channel) notify.Channel {
	ch.Events = slices.Clone(ch.Events)
	return ch
}

// CreateApproval implements [approval.ApprovalStore]. Requests are keyed
// by organisation and ID.
func (s *Store) CreateApproval(ctx context.Context, r approval.Request) (approval.Request, error) {
	if r.OrgID == "" {
		return approval.Request{}, errors.New("memstore: CreateApproval: the request has no OrgID")
	}
	if r.ID == "" {
		r.ID = ids.New()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Microsecond)
	if !r.ExpiresAt.IsZero() {
		r.ExpiresAt = r.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	r.Status = approval.StatusPending
	r.ReviewedAt, r.ReviewedBy, r.ReviewerID, r.ReviewSource, r.ReviewNotes = nil, "", "", "", ""
	s.apMu.Lock()
	defer s.apMu.Unlock()
	k := key{r.OrgID, r.ID}
	if _, ok := s.approvals[k]; ok {
		return approval.Request{}, approval.ErrConflict
	}
	stored := r
	s.approvals[k] = &stored
	return r, nil
}

// GetApproval implements [approval.ApprovalStore]. A request of another
// organisation is [approval.ErrNotFound].
func (s *Store) GetApproval(ctx context.Context, orgID, id string) (approval.Request, error) {
	s.apMu.RLock()
	defer s.apMu.RUnlock()
	r, ok := s.approvals[key{orgID, id}]
	if !ok {
		return approval.Request{}, approval.ErrNotFound
	}
	return cloneRequest(r), nil
}

// DecideApproval implements [approval.ApprovalStore]. The check and the
// change happen under one lock.
func (s *Store) DecideApproval(ctx context.Context, orgID, id string, o approval.Outcome) (approval.Request, error) {
	switch o.Status {
	case approval.StatusApproved, approval.StatusDenied, approval.StatusExpired:
	default:
		return approval.Request{}, fmt.Errorf("memstore: outcome status %q does not decide a request", o.Status)
	}
	s.apMu.Lock()
	defer s.apMu.Unlock()
	r, ok := s.approvals[key{orgID, id}]
	switch {
	case !ok:
		return approval.Request{}, approval.ErrNotFound
	case r.Status != approval.StatusPending:
		return cloneRequest(r), approval.ErrNotPending
	case o.Status != approval.StatusExpired && r.Expired(o.At):
		return cloneRequest(r), approval.ErrExpired
	}
	at := o.At.UTC().Truncate(time.Microsecond)
	r.Status = o.Status
	r.ReviewedAt = &at
	r.ReviewedBy, r.ReviewerID, r.ReviewSource, r.ReviewNotes = o.ReviewedBy, o.ReviewerID, o.Source, o.Notes
	return cloneRequest(r), nil
}

// ListExpired implements [approval.ExpiryLister] with a scan of every
// request, of every organisation, under the read lock.
func (s *Store) ListExpired(ctx context.Context, now time.Time, limit int) ([]approval.Request, error) {
	var found []approval.Request
	s.apMu.RLock()
	for _, r := range s.approvals {
		if r.Status == approval.StatusPending && r.Expired(now) {
			found = append(found, cloneRequest(r))
		}
	}
	s.apMu.RUnlock()
	slices.SortFunc(found, func(a, b approval.Request) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.OrgID, b.OrgID), cmp.Compare(a.ID, b.ID))
	})
	return found[:min(len(found), max(limit, 0))], nil
}

func cloneRequest(r *approval.Request) approval.Request {
	c := *r
	if r.ReviewedAt != nil {
		at := *r.ReviewedAt
		c.ReviewedAt = &at
	}
	return c
}

// LogAudit implements [approval.AuditLogger].
func (s *Store) LogAudit(ctx context.Context, e approval.AuditEntry) error {
	if e.ID == "" {
		e.ID = ids.New()
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	s.auditMu.Lock()
	if n := len(s.audit); n == 0 || len(s.audit[n-1]) == auditChunk {
		s.audit = append(s.audit, make([]approval.AuditEntry, 0, auditChunk))
	}
	last := &s.audit[len(s.audit)-1]
	*last = append(*last, e)
	s.auditMu.Unlock()
	return nil
}

// ListAudit implements [approval.AuditLister].
func (s *Store) ListAudit(ctx context.Context, orgID string, f approval.AuditFilter) ([]approval.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	s.auditMu.RLock()
	var out []approval.AuditEntry
	for _, chunk := range s.audit {
		for _, e := range chunk {
			if e.OrgID == orgID && (f.ApprovalID == "" || e.ApprovalID == f.ApprovalID) {
				out = append(out, e)
			}
		}
	}
	s.auditMu.RUnlock()
	slices.Reverse(out) // newest inserted first
	slices.SortStableFunc(out, func(a, b approval.AuditEntry) int { return b.At.Compare(a.At) })
	if len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []approval.AuditEntry{}
	}
	return out, nil
}

// RecordPost implements [notify.PostStore].
func (s *Store) RecordPost(ctx context.Context, p notify.Post) error {
	if p.PostedAt.IsZero() {
		p.PostedAt = s.now()
	}
	p.PostedAt = p.PostedAt.UTC().Truncate(time.Microsecond)
	k := key{p.OrgID, p.ApprovalID}
	s.postMu.Lock()
	s.posts[k] = append(s.posts[k], p)
	s.postMu.Unlock()
	return nil
}

// ListPosts implements [notify.PostStore]: the posts of the request
// approvalID of orgID, never another organisation's.
func (s *Store) ListPosts(ctx context.Context, orgID, approvalID string) ([]notify.Post, error) {
	s.postMu.RLock()
	out := slices.Clone(s.posts[key{orgID, approvalID}])
	s.postMu.RUnlock()
	slices.SortStableFunc(out, func(a, b notify.Post) int { return a.PostedAt.Compare(b.PostedAt) })
	if out == nil {
		out = []notify.Post{}
	}
	return out, nil
}
