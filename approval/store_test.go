package approval_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// testStore is a small in-memory ApprovalStore, AuditLogger, AuditLister
// and ExpiryLister following the interfaces' doc comments, so that this
// package's tests depend on no store package (the stores depend on
// approval, and store/storetest checks them against the same contract).
type testStore struct {
	mu        sync.Mutex
	approvals map[orgKey]approval.Request
	audit     []approval.AuditEntry
	seq       int
}

type orgKey struct{ org, id string }

var (
	_ approval.ApprovalStore = (*testStore)(nil)
	_ approval.AuditLogger   = (*testStore)(nil)
	_ approval.AuditLister   = (*testStore)(nil)
	_ approval.ExpiryLister  = (*testStore)(nil)
)

func newTestStore() *testStore {
	return &testStore{approvals: map[orgKey]approval.Request{}}
}

func cloneRequest(r approval.Request) approval.Request {
	if r.ReviewedAt != nil {
		at := *r.ReviewedAt
		r.ReviewedAt = &at
	}
	return r
}

func (s *testStore) CreateApproval(ctx context.Context, r approval.Request) (approval.Request, error) {
	if r.OrgID == "" {
		return approval.Request{}, errors.New("teststore: org_id is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.ID == "" {
		s.seq++
		r.ID = fmt.Sprintf("gen-%d", s.seq)
	}
	k := orgKey{r.OrgID, r.ID}
	if _, ok := s.approvals[k]; ok {
		return approval.Request{}, approval.ErrConflict
	}
	r.Status = approval.StatusPending
	r.ReviewedAt, r.ReviewedBy, r.ReviewerID, r.ReviewSource, r.ReviewNotes = nil, "", "", "", ""
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	r.CreatedAt = r.CreatedAt.UTC()
	if !r.ExpiresAt.IsZero() {
		r.ExpiresAt = r.ExpiresAt.UTC()
	}
	s.approvals[k] = r
	return cloneRequest(r), nil
}

func (s *testStore) GetApproval(ctx context.Context, orgID, id string) (approval.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.approvals[orgKey{orgID, id}]
	if !ok {
		return approval.Request{}, approval.ErrNotFound
	}
	return cloneRequest(r), nil
}

func (s *testStore) DecideApproval(ctx context.Context, orgID, id string, o approval.Outcome) (approval.Request, error) {
	switch o.Status {
	case approval.StatusApproved, approval.StatusDenied, approval.StatusExpired:
	default:
		return approval.Request{}, fmt.Errorf("teststore: cannot decide with status %q", o.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := orgKey{orgID, id}
	r, ok := s.approvals[k]
	switch {
	case !ok:
		return approval.Request{}, approval.ErrNotFound
	case r.Status != approval.StatusPending:
		return cloneRequest(r), approval.ErrNotPending
	case o.Status != approval.StatusExpired && r.Expired(o.At):
		return cloneRequest(r), approval.ErrExpired
	}
	at := o.At.UTC()
	r.Status, r.ReviewedAt, r.ReviewedBy, r.ReviewerID, r.ReviewSource, r.ReviewNotes =
		o.Status, &at, o.ReviewedBy, o.ReviewerID, o.Source, o.Notes
	s.approvals[k] = r
	return cloneRequest(r), nil
}

func (s *testStore) ListExpired(ctx context.Context, now time.Time, limit int) ([]approval.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []approval.Request
	for _, r := range s.approvals {
		if r.Status == approval.StatusPending && r.Expired(now) {
			due = append(due, cloneRequest(r))
		}
	}
	slices.SortFunc(due, func(a, b approval.Request) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	return due[:min(limit, len(due))], nil
}

func (s *testStore) LogAudit(ctx context.Context, e approval.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if e.ID == "" {
		e.ID = fmt.Sprintf("aud-%d", s.seq)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	s.audit = append(s.audit, e)
	return nil
}

func (s *testStore) ListAudit(ctx context.Context, orgID string, f approval.AuditFilter) ([]approval.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []approval.AuditEntry
	for i := len(s.audit) - 1; i >= 0; i-- { // newest inserted first
		e := s.audit[i]
		if e.OrgID == orgID && (f.ApprovalID == "" || e.ApprovalID == f.ApprovalID) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b approval.AuditEntry) int { return cmp.Compare(b.At.UnixNano(), a.At.UnixNano()) })
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	return out[:min(limit, len(out))], nil
}
