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
)

// serviceEnv is a Service over a testStore with a controllable clock
// and a record of the FollowUps it hands over.
type serviceEnv struct {
	store     *testStore
	svc       *approval.Service
	now       time.Time
	mu        sync.Mutex
	followUps []approval.FollowUp
}

func newServiceEnv(t *testing.T, opts *approval.Options) *serviceEnv {
	t.Helper()
	e := &serviceEnv{store: newTestStore(), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var o approval.Options
	if opts != nil {
		o = *opts
	}
	o.Now = func() time.Time { return e.now }
	o.FollowUp = func(ctx context.Context, f approval.FollowUp) {
		e.mu.Lock()
		e.followUps = append(e.followUps, f)
		e.mu.Unlock()
	}
	svc, err := approval.NewService(e.store, e.store, &o)
	require.NoError(t, err)
	e.svc = svc
	return e
}

// create stores r, by default apr-1 of org-1 expiring in an hour.
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

// get returns the request id of org-1.
func (e *serviceEnv) get(t *testing.T, id string) approval.Request {
	t.Helper()
	r, err := e.store.GetApproval(t.Context(), "org-1", id)
	require.NoError(t, err)
	return r
}

// audit returns org-1's trail.
func (e *serviceEnv) audit(t *testing.T) []approval.AuditEntry {
	t.Helper()
	entries, err := e.store.ListAudit(t.Context(), "org-1", approval.AuditFilter{Limit: 1000})
	require.NoError(t, err)
	return entries
}

// recorded returns every FollowUp handed over so far.
func (e *serviceEnv) recorded() []approval.FollowUp {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]approval.FollowUp(nil), e.followUps...)
}

// decidedCalls returns the requests of the Decided FollowUps.
func (e *serviceEnv) decidedCalls() []approval.Request {
	var out []approval.Request
	for _, f := range e.recorded() {
		if f.Decided {
			out = append(out, f.Request)
		}
	}
	return out
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

			got, err := e.svc.Review(t.Context(), "org-1", "apr-1", tt.decision, amy, tt.source)

			require.NoError(t, err)
			assert.Equal(t, tt.status, got.Status)
			assert.Equal(t, "amy", got.ReviewedBy)
			assert.Equal(t, "U0AMY", got.ReviewerID)
			assert.Equal(t, tt.source, got.ReviewSource)
			assert.Equal(t, tt.notes, got.ReviewNotes)
			require.NotNil(t, got.ReviewedAt)
			assert.True(t, got.ReviewedAt.Equal(e.now))

			stored, err := e.store.GetApproval(t.Context(), "org-1", "apr-1")
			require.NoError(t, err)
			assert.Equal(t, got, stored, "the returned request is the stored one")
			assert.Equal(t, []approval.FollowUp{{Request: got, Decided: true}}, e.recorded(),
				"one Decided FollowUp, with the request as stored")

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
			name: "another organisation's ID", id: "apr-theirs",
			setup: func(t *testing.T, e *serviceEnv) {
				e.create(t, approval.Request{ID: "apr-theirs", OrgID: "org-2"})
			},
			err: approval.ErrNotFound, msg: "Approval request not found",
		},
		{
			name: "already approved", id: "apr-1",
			setup: func(t *testing.T, e *serviceEnv) {
				e.create(t, approval.Request{})
				_, err := e.svc.Review(t.Context(), "org-1", "apr-1", approval.Approve, approval.Reviewer{Name: "bob"}, approval.SourceTeams)
				require.NoError(t, err)
			},
			err: approval.ErrNotPending, msg: "Already approved", status: approval.StatusApproved,
		},
		{
			name: "already denied", id: "apr-1",
			setup: func(t *testing.T, e *serviceEnv) {
				e.create(t, approval.Request{})
				_, err := e.svc.Review(t.Context(), "org-1", "apr-1", approval.Deny, approval.Reviewer{Name: "bob"}, approval.SourceSlack)
				require.NoError(t, err)
			},
			err: approval.ErrNotPending, msg: "Already denied", status: approval.StatusDenied,
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
				_, err := e.svc.Review(t.Context(), "org-1", "apr-1", approval.Approve, amy, approval.SourceSlack)
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

			got, err := e.svc.Review(t.Context(), "org-1", tt.id, approval.Approve, amy, approval.SourceSlack)

			require.ErrorIs(t, err, tt.err)
			assert.Equal(t, tt.msg, approval.Message(err))
			assert.Equal(t, tt.status, got.Status)
			if tt.err != approval.ErrExpired || tt.name == "expired before" {
				assert.Len(t, e.audit(t), auditBefore, "nothing audited")
				assert.Len(t, e.decidedCalls(), decidedBefore, "no FollowUp handed over")
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
		got, err := e.svc.Review(t.Context(), "org-1", "apr-1", approval.Approve, amy, approval.SourceSlack)
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
	require.Len(t, calls, 1, "one Decided FollowUp, for the expiry")
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
			_, errs[i] = e.svc.Review(context.Background(), "org-1", "apr-1", d,
				approval.Reviewer{ID: fmt.Sprint("U", i), Name: fmt.Sprint("r", i)}, approval.SourceSlack)
		})
	}
	wg.Wait()

	stored, err := e.store.GetApproval(t.Context(), "org-1", "apr-1")
	require.NoError(t, err)
	want := "Already approved"
	if stored.Status == approval.StatusDenied {
		want = "Already denied"
	}
	ok, already := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, approval.ErrNotPending) && approval.Message(err) == want:
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

	got, err := e.svc.Review(t.Context(), "org-1", "apr-1", approval.Approve, approval.Reviewer{ID: "U0BOB", Name: "bob"}, approval.SourceTeams)
	require.ErrorIs(t, err, approval.ErrNotAllowed)
	require.ErrorIs(t, err, refusal, "the policy's error is wrapped")
	assert.Equal(t, "You are not allowed to review this request", approval.Message(err))
	assert.Equal(t, approval.StatusPending, got.Status)
	assert.Equal(t, "apr-1", seen.r.ID)
	assert.Equal(t, "bob", seen.rv.Name)
	assert.Equal(t, approval.SourceTeams, seen.src)
	assert.Empty(t, e.audit(t))
	assert.Empty(t, e.decidedCalls())

	_, err = e.svc.Review(t.Context(), "org-1", "apr-1", approval.Approve, amy, approval.SourceSlack)
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
		{"requester is refused", approval.Reviewer{ID: "U0REQ", Name: "req"}, "user-requester", approval.ErrNotAllowed, "You cannot review your own request"},
		{"resolver failure refuses", approval.Reviewer{ID: "U0ERR", Name: "x"}, "user-requester", approval.ErrNotAllowed, "You are not allowed to review this request"},
		{"another user may decide", amy, "user-requester", nil, ""},
		{"unknown reviewer may decide", approval.Reviewer{ID: "U0NEW", Name: "new"}, "user-requester", nil, ""},
		{"no requester, no check", approval.Reviewer{ID: "U0REQ", Name: "req"}, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newServiceEnv(t, &approval.Options{ResolveUser: resolve})
			e.create(t, approval.Request{RequestedBy: tt.requestedBy})

			got, err := e.svc.Review(t.Context(), "org-1", "apr-1", approval.Approve, tt.reviewer, approval.SourceSlack)

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
			_, err := e.svc.Review(t.Context(), "org-1", "apr-1", tt.d, tt.rv, approval.SourceSlack)
			require.ErrorIs(t, err, approval.ErrInvalid)
			assert.Equal(t, "Invalid approval decision", approval.Message(err))
		})
	}
	t.Run("ID stands in for a missing name", func(t *testing.T) {
		got, err := e.svc.Review(t.Context(), "org-1", "apr-1", approval.Approve, approval.Reviewer{ID: "U0X", Name: " "}, approval.SourceSlack)
		require.NoError(t, err)
		assert.Equal(t, "U0X", got.ReviewedBy)
		assert.Equal(t, "Approved by U0X via Slack", got.ReviewNotes)
	})
	stored, err := e.store.GetApproval(t.Context(), "org-1", "apr-1")
	require.NoError(t, err)
	assert.Equal(t, approval.StatusApproved, stored.Status)
}

// failingAudit refuses every entry.
type failingAudit struct{}

func (failingAudit) LogAudit(context.Context, approval.AuditEntry) error {
	return errors.New("audit table locked")
}

func TestReviewAuditFailureKeepsDecision(t *testing.T) {
	st := newTestStore()
	logs := &syncbuf.Buffer{}
	svc, err := approval.NewService(st, failingAudit{}, &approval.Options{Logger: newTextLogger(logs)})
	require.NoError(t, err)
	_, err = st.CreateApproval(t.Context(), approval.Request{ID: "apr-1", OrgID: "org-1", Title: "t"})
	require.NoError(t, err)

	got, err := svc.Review(t.Context(), "org-1", "apr-1", approval.Approve, amy, approval.SourceSlack)

	require.NoError(t, err, "the decision is recorded even when the trail fails")
	assert.Equal(t, approval.StatusApproved, got.Status)
	assert.Contains(t, logs.String(), "audit entry could not be stored")
	assert.Contains(t, logs.String(), "approval_id=apr-1")
}

func TestServiceExpire(t *testing.T) {
	e := newServiceEnv(t, nil)
	e.create(t, approval.Request{})

	got, err := e.svc.Expire(t.Context(), "org-1", "apr-1")
	require.NoError(t, err, "not yet due")
	assert.Equal(t, approval.StatusPending, got.Status)
	assert.Empty(t, e.audit(t))

	e.now = e.now.Add(2 * time.Hour)
	got, err = e.svc.Expire(t.Context(), "org-1", "apr-1")
	require.NoError(t, err)
	assert.Equal(t, approval.StatusExpired, got.Status)

	_, err = e.svc.Expire(t.Context(), "org-1", "apr-1")
	require.ErrorIs(t, err, approval.ErrExpired)
	entries := e.audit(t)
	require.Len(t, entries, 1)
	assert.Equal(t, approval.AuditExpired, entries[0].Action)

	_, err = e.svc.Expire(t.Context(), "org-1", "apr-none")
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
		{approval.ErrExpired, "Approval request has expired"},
		{approval.ErrNotAllowed, "You are not allowed to review this request"},
		{approval.ErrInvalid, "Invalid approval decision"},
		{errors.New("pq: connection refused at 10.0.0.5"), "The decision could not be recorded; please try again"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, approval.Message(tt.err), "%v", tt.err)
	}
}

func TestNewServiceNeedsStoreAndAudit(t *testing.T) {
	st := newTestStore()
	_, err := approval.NewService(nil, st, nil)
	assert.Error(t, err)
	_, err = approval.NewService(st, nil, nil)
	assert.Error(t, err)
	_, err = approval.NewService(st, st, nil)
	assert.NoError(t, err)
}

func TestServiceCreateValidates(t *testing.T) {
	e := newServiceEnv(t, nil)
	long := make([]rune, 201)
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

// TestOrgIsolation is issue 8's defect 1: another organisation's admin
// gets ErrNotFound for a request ID that exists in one organisation,
// from every method, and nothing of it changes or leaks.
func TestOrgIsolation(t *testing.T) {
	e := newServiceEnv(t, nil)
	mine := e.create(t, approval.Request{ID: "apr-1", OrgID: "org-1", Title: "Rotate org-1's keys", RiskScore: 90})
	ctx := t.Context()

	got, err := e.svc.Get(ctx, "org-2", "apr-1")
	require.ErrorIs(t, err, approval.ErrNotFound)
	assert.Zero(t, got, "nothing of the request is returned")

	got, err = e.svc.Review(ctx, "org-2", "apr-1", approval.Approve, amy, approval.SourceAPI)
	require.ErrorIs(t, err, approval.ErrNotFound)
	assert.Equal(t, "Approval request not found", approval.Message(err))
	assert.Zero(t, got)

	e.now = e.now.Add(2 * time.Hour) // past the deadline
	got, err = e.svc.Expire(ctx, "org-2", "apr-1")
	require.ErrorIs(t, err, approval.ErrNotFound)
	assert.Zero(t, got)

	_, err = e.svc.Get(ctx, "", "apr-1")
	require.ErrorIs(t, err, approval.ErrNotFound, "no organisation, no request")

	assert.Equal(t, mine, e.get(t, "apr-1"), "org-1's request is untouched")
	assert.Empty(t, e.audit(t))
	trail, err := e.store.ListAudit(ctx, "org-2", approval.AuditFilter{})
	require.NoError(t, err)
	assert.Empty(t, trail)
	assert.Empty(t, e.recorded())
}

// TestSameIDInTwoOrgs checks that one client-chosen ID in two
// organisations is two requests, each decided on its own.
func TestSameIDInTwoOrgs(t *testing.T) {
	e := newServiceEnv(t, nil)
	ctx := t.Context()
	one, err := e.svc.Create(ctx, approval.Request{ID: "deploy-42", OrgID: "org-1", Title: "Org one's deploy"})
	require.NoError(t, err)
	two, err := e.svc.Create(ctx, approval.Request{ID: "deploy-42", OrgID: "org-2", Title: "Org two's deploy"})
	require.NoError(t, err, "another organisation's ID is not a conflict")
	_, err = e.svc.Create(ctx, approval.Request{ID: "deploy-42", OrgID: "org-2", Title: "Again"})
	require.ErrorIs(t, err, approval.ErrConflict, "the same ID twice in one organisation is")

	got, err := e.svc.Get(ctx, "org-2", "deploy-42")
	require.NoError(t, err)
	assert.Equal(t, two, got)

	decided, err := e.svc.Review(ctx, "org-2", "deploy-42", approval.Deny, amy, approval.SourceAPI)
	require.NoError(t, err)
	assert.Equal(t, "org-2", decided.OrgID)
	assert.Equal(t, approval.StatusDenied, decided.Status)
	assert.Equal(t, one, e.get(t, "deploy-42"), "org-1's request with the same ID is still pending")

	decided, err = e.svc.Review(ctx, "org-1", "deploy-42", approval.Approve, amy, approval.SourceAPI)
	require.NoError(t, err, "org-2's decision did not decide org-1's")
	assert.Equal(t, approval.StatusApproved, decided.Status)

	trail, err := e.store.ListAudit(ctx, "org-2", approval.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, trail, 1)
	assert.Equal(t, approval.StatusDenied, trail[0].Decision)
	require.Len(t, e.audit(t), 1)
	assert.Equal(t, approval.StatusApproved, e.audit(t)[0].Decision)
}

// TestFollowUpOnlyForChanges checks that the Service hands over a
// Decided FollowUp for each decision and expiry it records, and none for
// a call that changes nothing.
func TestFollowUpOnlyForChanges(t *testing.T) {
	e := newServiceEnv(t, nil)
	ctx := t.Context()
	e.create(t, approval.Request{ID: "apr-1"})
	e.create(t, approval.Request{ID: "apr-2"})

	approved, err := e.svc.Review(ctx, "org-1", "apr-1", approval.Approve, amy, approval.SourceAPI)
	require.NoError(t, err)
	_, err = e.svc.Review(ctx, "org-1", "apr-1", approval.Deny, amy, approval.SourceAPI)
	require.ErrorIs(t, err, approval.ErrNotPending)
	_, err = e.svc.Expire(ctx, "org-1", "apr-2")
	require.NoError(t, err, "not due yet: nothing to do")
	e.now = e.now.Add(time.Hour)
	expired, err := e.svc.Expire(ctx, "org-1", "apr-2")
	require.NoError(t, err)
	_, err = e.svc.Expire(ctx, "org-1", "apr-2")
	require.ErrorIs(t, err, approval.ErrExpired)

	assert.Equal(t, []approval.FollowUp{
		{Request: approved, Decided: true},
		{Request: expired, Decided: true},
	}, e.recorded())
	assert.Equal(t, approval.StatusExpired, expired.Status)
}
