package approval_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// serviceEnv is a Service over a memstore with a controllable clock and
// a record of OnDecided calls.
type serviceEnv struct {
	store   *memstore.Store
	svc     *approval.Service
	now     time.Time
	mu      sync.Mutex
	decided []approval.Request
}

func newServiceEnv(t *testing.T, opts *approval.Options) *serviceEnv {
	t.Helper()
	e := &serviceEnv{store: memstore.New(), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var o approval.Options
	if opts != nil {
		o = *opts
	}
	o.Now = func() time.Time { return e.now }
	o.OnDecided = func(ctx context.Context, r approval.Request) {
		e.mu.Lock()
		e.decided = append(e.decided, r)
		e.mu.Unlock()
	}
	svc, err := approval.NewService(e.store, e.store, &o)
	require.NoError(t, err)
	e.svc = svc
	return e
}

func (e *serviceEnv) create(t *testing.T, r approval.Request) approval.Request {
	t.Helper()
	if r.ID == "" {
		r.ID = "apr-1"
	}
	if r.OrgID == "" {
		r.OrgID = "org-1"
	}
	if r.Title == "" {
		r.Title = "Deploy to production"
	}
	if r.ExpiresAt.IsZero() {
		r.ExpiresAt = e.now.Add(time.Hour)
	}
	r.CreatedAt = e.now.Add(-time.Minute)
	stored, err := e.store.CreateApproval(t.Context(), r)
	require.NoError(t, err)
	return stored
}

func (e *serviceEnv) get(t *testing.T, id string) approval.Request {
	t.Helper()
	r, err := e.store.GetApproval(t.Context(), id)
	require.NoError(t, err)
	return r
}

func (e *serviceEnv) audit(t *testing.T) []approval.AuditEntry {
	t.Helper()
	entries, err := e.store.ListAudit(t.Context(), "org-1", approval.AuditFilter{Limit: 1000})
	require.NoError(t, err)
	return entries
}

func (e *serviceEnv) decidedCalls() []approval.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]approval.Request(nil), e.decided...)
}

var amy = approval.Reviewer{ID: "U0AMY", Name: "amy", Verified: true}

func TestReviewRecordsDecision(t *testing.T) {
	tests := []struct {
		decision approval.Decision
		source   approval.Source
		status   approval.Status
		notes    string
	}{
		{approval.Approve, approval.SourceSlack, approval.StatusApproved, "Approved by amy via Slack"},
		{approval.Deny, approval.SourceSlack, approval.StatusDenied, "Denied by amy via Slack"},
		{approval.Approve, approval.SourceTeams, approval.StatusApproved, "Approved by amy via Teams"},
		{approval.Deny, approval.SourceAPI, approval.StatusDenied, "Denied by amy via API"},
	}
	for _, tt := range tests {
		t.Run(string(tt.decision)+"/"+string(tt.source), func(t *testing.T) {
			e := newServiceEnv(t, nil)
			e.create(t, approval.Request{RiskScore: 73})

			got, err := e.svc.Review(t.Context(), "apr-1", tt.decision, amy, tt.source)

			require.NoError(t, err)
			assert.Equal(t, tt.status, got.Status)
			assert.Equal(t, "amy", got.ReviewedBy)
			assert.Equal(t, "U0AMY", got.ReviewerID)
			assert.Equal(t, tt.source, got.ReviewSource)
			assert.Equal(t, tt.notes, got.ReviewNotes)
			require.NotNil(t, got.ReviewedAt)
			assert.True(t, got.ReviewedAt.Equal(e.now))

			stored, err := e.store.GetApproval(t.Context(), "apr-1")
			require.NoError(t, err)
			assert.Equal(t, got, stored, "the returned request is the stored one")

			entries := e.audit(t)
			require.Len(t, entries, 1)
			a := entries[0]
			assert.Equal(t, approval.AuditReviewed, a.Action)
			assert.Equal(t, "org-1", a.OrgID)
			assert.Equal(t, "apr-1", a.ApprovalID)
			assert.Equal(t, 73, a.RiskScore)
			assert.Equal(t, "amy", a.Actor)
			assert.Equal(t, "U0AMY", a.ActorID)
			assert.True(t, a.Verified)
			assert.Equal(t, tt.source, a.Source)
			assert.Equal(t, tt.status, a.Decision)
			assert.Equal(t, tt.notes, a.Notes)
			assert.True(t, a.At.Equal(e.now))
			assert.NotEmpty(t, a.ID)
		})
	}
}

func TestReviewProcessingErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, e *serviceEnv)
		id     string
		err    error
		msg    string
		status approval.Status // of the returned request; "" for none
	}{
		{
			name: "not found", id: "apr-none",
			setup: func(t *testing.T, e *serviceEnv) {},
			err:   approval.ErrNotFound, msg: "Approval request not found",
		},
		{
			name: "empty ID", id: "",
			setup: func(t *testing.T, e *serviceEnv) {},
			err:   approval.ErrNotFound, msg: "Approval request not found",
		},
		{
			name: "already approved", id: "apr-1",
			setup: func(t *testing.T, e *serviceEnv) {
				e.create(t, approval.Request{})
				_, err := e.svc.Review(t.Context(), "apr-1", approval.Approve, approval.Reviewer{Name: "bob"}, approval.SourceTeams)
				require.NoError(t, err)
			},
			err: approval.ErrAlreadyApproved, msg: "Already approved", status: approval.StatusApproved,
		},
		{
			name: "already denied", id: "apr-1",
			setup: func(t *testing.T, e *serviceEnv) {
				e.create(t, approval.Request{})
				_, err := e.svc.Review(t.Context(), "apr-1", approval.Deny, approval.Reviewer{Name: "bob"}, approval.SourceSlack)
				require.NoError(t, err)
			},
			err: approval.ErrAlreadyDenied, msg: "Already denied", status: approval.StatusDenied,
		},
		{
			name: "expired now", id: "apr-1",
			setup: func(t *testing.T, e *serviceEnv) {
				e.create(t, approval.Request{})
				e.now = e.now.Add(time.Hour) // exactly at the deadline
			},
			err: approval.ErrExpired, msg: "Approval request has expired", status: approval.StatusExpired,
		},
		{
			name: "expired before", id: "apr-1",
			setup: func(t *testing.T, e *serviceEnv) {
				e.create(t, approval.Request{})
				e.now = e.now.Add(2 * time.Hour)
				_, err := e.svc.Review(t.Context(), "apr-1", approval.Approve, amy, approval.SourceSlack)
				require.ErrorIs(t, err, approval.ErrExpired)
			},
			err: approval.ErrExpired, msg: "Approval request has expired", status: approval.StatusExpired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newServiceEnv(t, nil)
			tt.setup(t, e)
			auditBefore := len(e.audit(t))
			decidedBefore := len(e.decidedCalls())

			got, err := e.svc.Review(t.Context(), tt.id, approval.Approve, amy, approval.SourceSlack)

			require.ErrorIs(t, err, tt.err)
			assert.Equal(t, tt.msg, approval.Message(err))
			assert.Equal(t, tt.status, got.Status)
			if tt.err != approval.ErrExpired || tt.name == "expired before" {
				assert.Len(t, e.audit(t), auditBefore, "nothing audited")
				assert.Len(t, e.decidedCalls(), decidedBefore, "OnDecided not called")
			}
			if errors.Is(err, approval.ErrNotPending) {
				assert.NotEqual(t, "amy", got.ReviewedBy, "the earlier decision stands")
			}
		})
	}
}

func TestReviewExpiryIsMarkedOnceAndAudited(t *testing.T) {
	e := newServiceEnv(t, nil)
	e.create(t, approval.Request{RiskScore: 55})
	e.now = e.now.Add(90 * time.Minute)

	for i := range 3 {
		got, err := e.svc.Review(t.Context(), "apr-1", approval.Approve, amy, approval.SourceSlack)
		require.ErrorIs(t, err, approval.ErrExpired, "click %d", i)
		assert.Equal(t, "Approval request has expired", approval.Message(err))
		assert.Equal(t, approval.StatusExpired, got.Status)
		assert.Equal(t, "", got.ReviewedBy, "an expiry has no reviewer")
	}

	entries := e.audit(t)
	require.Len(t, entries, 1)
	a := entries[0]
	assert.Equal(t, approval.AuditExpired, a.Action)
	assert.Equal(t, approval.StatusExpired, a.Decision)
	assert.Equal(t, 55, a.RiskScore)
	assert.Empty(t, a.Actor)
	assert.Empty(t, a.ActorID)
	assert.True(t, a.At.Equal(e.now))
	calls := e.decidedCalls()
	require.Len(t, calls, 1, "OnDecided once, for the expiry")
	assert.Equal(t, approval.StatusExpired, calls[0].Status)
}

func TestReviewConcurrentClicks(t *testing.T) {
	e := newServiceEnv(t, nil)
	e.create(t, approval.Request{})
	const n = 100
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := approval.Approve
			if i%2 == 1 {
				d = approval.Deny
			}
			_, errs[i] = e.svc.Review(context.Background(), "apr-1", d,
				approval.Reviewer{ID: fmt.Sprint("U", i), Name: fmt.Sprint("r", i)}, approval.SourceSlack)
		})
	}
	wg.Wait()

	stored, err := e.store.GetApproval(t.Context(), "apr-1")
	require.NoError(t, err)
	want := approval.ErrAlreadyApproved
	if stored.Status == approval.StatusDenied {
		want = approval.ErrAlreadyDenied
	}
	ok, already := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, want):
			already++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, n-1, already)
	assert.Len(t, e.audit(t), 1)
	assert.Len(t, e.decidedCalls(), 1)
}

func TestReviewPolicy(t *testing.T) {
	refusal := errors.New("not an approver")
	var calls atomic.Int32
	var seen struct {
		r   approval.Request
		rv  approval.Reviewer
		src approval.Source
	}
	e := newServiceEnv(t, &approval.Options{
		Policy: func(ctx context.Context, r approval.Request, rv approval.Reviewer, src approval.Source) error {
			calls.Add(1)
			seen.r, seen.rv, seen.src = r, rv, src
			if rv.ID == "U0BOB" {
				return refusal
			}
			return nil
		},
	})
	e.create(t, approval.Request{})

	got, err := e.svc.Review(t.Context(), "apr-1", approval.Approve, approval.Reviewer{ID: "U0BOB", Name: "bob"}, approval.SourceTeams)
	require.ErrorIs(t, err, approval.ErrNotAllowed)
	require.ErrorIs(t, err, refusal, "the policy's error is wrapped")
	assert.Equal(t, "You are not allowed to review this request", approval.Message(err))
	assert.Equal(t, approval.StatusPending, got.Status)
	assert.Equal(t, "apr-1", seen.r.ID)
	assert.Equal(t, "bob", seen.rv.Name)
	assert.Equal(t, approval.SourceTeams, seen.src)
	assert.Empty(t, e.audit(t))
	assert.Empty(t, e.decidedCalls())

	_, err = e.svc.Review(t.Context(), "apr-1", approval.Approve, amy, approval.SourceSlack)
	require.NoError(t, err)
	assert.Equal(t, int32(2), calls.Load())
	assert.Len(t, e.audit(t), 1)
}

func TestReviewSelfApproval(t *testing.T) {
	resolve := func(ctx context.Context, rv approval.Reviewer, src approval.Source) (string, error) {
		switch rv.ID {
		case "U0REQ":
			return "user-requester", nil
		case "U0ERR":
			return "", errors.New("directory down")
		case "U0AMY":
			return "user-amy", nil
		}
		return "", nil
	}
	tests := []struct {
		name        string
		reviewer    approval.Reviewer
		requestedBy string
		err         error
		msg         string
	}{
		{"requester is refused", approval.Reviewer{ID: "U0REQ", Name: "req"}, "user-requester", approval.ErrSelfApproval, "You cannot review your own request"},
		{"resolver failure refuses", approval.Reviewer{ID: "U0ERR", Name: "x"}, "user-requester", approval.ErrNotAllowed, "You are not allowed to review this request"},
		{"another user may decide", amy, "user-requester", nil, ""},
		{"unknown reviewer may decide", approval.Reviewer{ID: "U0NEW", Name: "new"}, "user-requester", nil, ""},
		{"no requester, no check", approval.Reviewer{ID: "U0REQ", Name: "req"}, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newServiceEnv(t, &approval.Options{ResolveUser: resolve})
			e.create(t, approval.Request{RequestedBy: tt.requestedBy})

			got, err := e.svc.Review(t.Context(), "apr-1", approval.Approve, tt.reviewer, approval.SourceSlack)

			if tt.err == nil {
				require.NoError(t, err)
				assert.Equal(t, approval.StatusApproved, got.Status)
				return
			}
			require.ErrorIs(t, err, tt.err)
			assert.Equal(t, tt.msg, approval.Message(err))
			assert.Equal(t, approval.StatusPending, got.Status)
			assert.Empty(t, e.audit(t))
		})
	}
}

func TestReviewInvalidInput(t *testing.T) {
	e := newServiceEnv(t, nil)
	e.create(t, approval.Request{})
	tests := []struct {
		name string
		d    approval.Decision
		rv   approval.Reviewer
	}{
		{"unknown decision", approval.Decision("maybe"), amy},
		{"no reviewer", approval.Approve, approval.Reviewer{}},
		{"blank reviewer", approval.Approve, approval.Reviewer{Name: "  "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Review(t.Context(), "apr-1", tt.d, tt.rv, approval.SourceSlack)
			require.ErrorIs(t, err, approval.ErrInvalid)
			assert.Equal(t, "Invalid approval decision", approval.Message(err))
		})
	}
	t.Run("ID stands in for a missing name", func(t *testing.T) {
		got, err := e.svc.Review(t.Context(), "apr-1", approval.Approve, approval.Reviewer{ID: "U0X", Name: " "}, approval.SourceSlack)
		require.NoError(t, err)
		assert.Equal(t, "U0X", got.ReviewedBy)
		assert.Equal(t, "Approved by U0X via Slack", got.ReviewNotes)
	})
	stored, err := e.store.GetApproval(t.Context(), "apr-1")
	require.NoError(t, err)
	assert.Equal(t, approval.StatusApproved, stored.Status)
}

// failingAudit refuses every entry.
type failingAudit struct{}

func (failingAudit) LogAudit(context.Context, approval.AuditEntry) error {
	return errors.New("audit table locked")
}

func TestReviewAuditFailureKeepsDecision(t *testing.T) {
	st := memstore.New()
	logs := &syncbuf.Buffer{}
	svc, err := approval.NewService(st, failingAudit{}, &approval.Options{Logger: newTextLogger(logs)})
	require.NoError(t, err)
	_, err = st.CreateApproval(t.Context(), approval.Request{ID: "apr-1", OrgID: "org-1", Title: "t"})
	require.NoError(t, err)

	got, err := svc.Review(t.Context(), "apr-1", approval.Approve, amy, approval.SourceSlack)

	require.NoError(t, err, "the decision is recorded even when the trail fails")
	assert.Equal(t, approval.StatusApproved, got.Status)
	assert.Contains(t, logs.String(), "audit entry could not be stored")
	assert.Contains(t, logs.String(), "approval_id=apr-1")
}

func TestServiceExpire(t *testing.T) {
	e := newServiceEnv(t, nil)
	e.create(t, approval.Request{})

	got, err := e.svc.Expire(t.Context(), "apr-1")
	require.NoError(t, err, "not yet due")
	assert.Equal(t, approval.StatusPending, got.Status)
	assert.Empty(t, e.audit(t))

	e.now = e.now.Add(2 * time.Hour)
	got, err = e.svc.Expire(t.Context(), "apr-1")
	require.NoError(t, err)
	assert.Equal(t, approval.StatusExpired, got.Status)

	_, err = e.svc.Expire(t.Context(), "apr-1")
	require.ErrorIs(t, err, approval.ErrExpired)
	entries := e.audit(t)
	require.Len(t, entries, 1)
	assert.Equal(t, approval.AuditExpired, entries[0].Action)

	_, err = e.svc.Expire(t.Context(), "apr-none")
	assert.ErrorIs(t, err, approval.ErrNotFound)
}

func TestMessage(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{approval.ErrNotFound, "Approval request not found"},
		{fmt.Errorf("store: %w", approval.ErrNotFound), "Approval request not found"},
		{approval.ErrAlreadyApproved, "Already approved"},
		{approval.ErrAlreadyDenied, "Already denied"},
		{approval.ErrExpired, "Approval request has expired"},
		{approval.ErrSelfApproval, "You cannot review your own request"},
		{approval.ErrNotAllowed, "You are not allowed to review this request"},
		{approval.ErrInvalid, "Invalid approval decision"},
		{errors.New("pq: connection refused at 10.0.0.5"), "The decision could not be recorded; please try again"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, approval.Message(tt.err), "%v", tt.err)
	}
	assert.ErrorIs(t, approval.ErrAlreadyApproved, approval.ErrNotPending)
	assert.ErrorIs(t, approval.ErrAlreadyDenied, approval.ErrNotPending)
}

func TestNewServiceNeedsStoreAndAudit(t *testing.T) {
	st := memstore.New()
	_, err := approval.NewService(nil, st, nil)
	assert.Error(t, err)
	_, err = approval.NewService(st, nil, nil)
	assert.Error(t, err)
	_, err = approval.NewService(st, st, nil)
	assert.NoError(t, err)
}

func TestServiceCreateValidates(t *testing.T) {
	e := newServiceEnv(t, nil)
	long := make([]rune, approval.MaxTitleLength+1)
	for i := range long {
		long[i] = 'é'
	}
	tests := []struct {
		name string
		r    approval.Request
		msg  string
	}{
		{"no org", approval.Request{Title: "t"}, "org_id is required"},
		{"no title", approval.Request{OrgID: "o", Title: "  "}, "title is required"},
		{"long title", approval.Request{OrgID: "o", Title: string(long)}, "title must be at most 200 characters"},
		{"risk too high", approval.Request{OrgID: "o", Title: "t", RiskScore: 101}, "risk_score must be between 0 and 100"},
		{"risk negative", approval.Request{OrgID: "o", Title: "t", RiskScore: -1}, "risk_score must be between 0 and 100"},
		{"past deadline", approval.Request{OrgID: "o", Title: "t", ExpiresAt: e.now}, "expires_at must be in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Create(t.Context(), tt.r)
			require.ErrorIs(t, err, approval.ErrInvalid)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
	got, err := e.svc.Create(t.Context(), approval.Request{OrgID: "o", Title: "  Deploy  ", ExpiresAt: e.now.Add(time.Minute)})
	require.NoError(t, err)
	assert.Equal(t, "Deploy", got.Title)
	assert.Equal(t, approval.StatusPending, got.Status)
	assert.True(t, got.CreatedAt.Equal(e.now))
}

func newTextLogger(w *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}
