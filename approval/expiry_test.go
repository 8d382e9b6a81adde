package approval_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
)

// dueEnv is a serviceEnv holding n requests apr-0 … apr-(n-1) whose
// deadlines pass one minute apart, in that order, starting one hour from
// the env's start; its clock is then moved past all of them.
func dueEnv(t *testing.T, n int) *serviceEnv {
	t.Helper()
	e := newServiceEnv(t, nil)
	for i := n - 1; i >= 0; i-- {
		e.create(t, approval.Request{ID: fmt.Sprintf("apr-%d", i), RiskScore: 60 + i%40,
			ExpiresAt: e.now.Add(time.Hour + time.Duration(i)*time.Minute)})
	}
	e.now = e.now.Add(time.Hour + time.Duration(n)*time.Minute)
	return e
}

func (e *serviceEnv) status(t *testing.T, id string) approval.Status {
	t.Helper()
	return e.get(t, id).Status
}

func TestExpireDueExpiresEveryDueRequestOnce(t *testing.T) {
	e := newServiceEnv(t, nil)
	start := e.now
	e.create(t, approval.Request{ID: "due-1", RiskScore: 91, ExpiresAt: start.Add(time.Minute)})
	e.create(t, approval.Request{ID: "due-2", RiskScore: 12, ExpiresAt: start.Add(2 * time.Minute)})
	e.create(t, approval.Request{ID: "at-now", ExpiresAt: start.Add(time.Hour)})
	e.create(t, approval.Request{ID: "future", ExpiresAt: start.Add(time.Hour + time.Microsecond)})
	e.create(t, approval.Request{ID: "approved", ExpiresAt: start.Add(time.Minute)})
	_, err := e.svc.Review(t.Context(), "org-1", "approved", approval.Approve, amy, approval.SourceSlack)
	require.NoError(t, err)
	_, err = e.store.CreateApproval(t.Context(), approval.Request{ID: "forever", OrgID: "org-1", Title: "No deadline"})
	require.NoError(t, err)
	// The same ID in another organisation: a request of its own, expired
	// in its own organisation.
	e.create(t, approval.Request{ID: "due-1", OrgID: "org-2", RiskScore: 44, ExpiresAt: start.Add(time.Minute)})
	e.now = start.Add(time.Hour)

	n, err := e.svc.ExpireDue(t.Context(), 10)

	require.NoError(t, err)
	assert.Equal(t, 4, n, "due-1 of both orgs, due-2 and at-now (a deadline at now is due)")
	for id, want := range map[string]approval.Status{
		"due-1": approval.StatusExpired, "due-2": approval.StatusExpired, "at-now": approval.StatusExpired,
		"future": approval.StatusPending, "forever": approval.StatusPending, "approved": approval.StatusApproved,
	} {
		assert.Equal(t, want, e.status(t, id), id)
	}
	got, err := e.store.GetApproval(t.Context(), "org-1", "due-1")
	require.NoError(t, err)
	assert.Equal(t, "Expired before review", got.ReviewNotes)
	assert.Empty(t, got.ReviewedBy)
	require.NotNil(t, got.ReviewedAt)
	assert.True(t, got.ReviewedAt.Equal(e.now))

	var expired []string
	risk := map[string]int{}
	for _, a := range e.audit(t) {
		if a.Action == approval.AuditExpired {
			expired = append(expired, a.ApprovalID)
			risk[a.ApprovalID] = a.RiskScore
			assert.Equal(t, approval.StatusExpired, a.Decision)
			assert.Equal(t, "org-1", a.OrgID)
			assert.Empty(t, a.Actor)
			assert.True(t, a.At.Equal(e.now))
		}
	}
	assert.ElementsMatch(t, []string{"due-1", "due-2", "at-now"}, expired, "one approval.expired entry each")
	assert.Equal(t, 91, risk["due-1"])
	assert.Equal(t, 12, risk["due-2"])

	theirs, err := e.store.GetApproval(t.Context(), "org-2", "due-1")
	require.NoError(t, err)
	assert.Equal(t, approval.StatusExpired, theirs.Status)
	trail, err := e.store.ListAudit(t.Context(), "org-2", approval.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, trail, 1, "org-2's expiry is in org-2's trail")
	assert.Equal(t, approval.AuditExpired, trail[0].Action)
	assert.Equal(t, 44, trail[0].RiskScore)

	var reported []string
	for _, r := range e.decidedCalls() {
		if r.ID != "approved" {
			assert.Equal(t, approval.StatusExpired, r.Status, r.ID)
			reported = append(reported, r.OrgID+"/"+r.ID)
		}
	}
	assert.ElementsMatch(t, []string{"org-1/due-1", "org-2/due-1", "org-1/due-2", "org-1/at-now"}, reported,
		"one Decided FollowUp each, with its organisation, so the chat copies are rewritten")

	n, err = e.svc.ExpireDue(t.Context(), 10)
	require.NoError(t, err)
	assert.Zero(t, n, "a second sweep finds nothing")
	assert.Len(t, e.decidedCalls(), 5, "and reports nothing")
}

func TestExpireDueLimitTakesOldestDeadlinesFirst(t *testing.T) {
	e := dueEnv(t, 5)
	for _, step := range []struct {
		n       int
		expired []string
	}{
		{2, []string{"apr-0", "apr-1"}},
		{2, []string{"apr-2", "apr-3"}},
		{1, []string{"apr-4"}},
		{0, nil},
	} {
		before := len(e.decidedCalls())
		n, err := e.svc.ExpireDue(t.Context(), 2)
		require.NoError(t, err)
		assert.Equal(t, step.n, n)
		var got []string
		for _, r := range e.decidedCalls()[before:] {
			got = append(got, r.ID)
		}
		assert.ElementsMatch(t, step.expired, got)
	}
}

func TestExpireDueLimitBelowOneMeansDefaultBatch(t *testing.T) {
	for _, limit := range []int{0, -1} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			const batch = 100 // as ExpireDue's doc says
			e := dueEnv(t, batch+1)
			n, err := e.svc.ExpireDue(t.Context(), limit)
			require.NoError(t, err)
			assert.Equal(t, batch, n)
			assert.Equal(t, approval.StatusPending, e.status(t, fmt.Sprintf("apr-%d", batch)),
				"the latest deadline waits for the next sweep")
			n, err = e.svc.ExpireDue(t.Context(), limit)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
		})
	}
}

// Two sweeps at once, as two replicas would run them: every request is
// expired, audited and reported once, and counted by one sweep only.
func TestExpireDueConcurrentSweepsExpireEachOnce(t *testing.T) {
	const requests = 200
	e := dueEnv(t, requests)
	var counts [2]int
	var errs [2]error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 {
		wg.Go(func() {
			<-start
			counts[i], errs[i] = e.svc.ExpireDue(t.Context(), requests)
		})
	}
	close(start)
	wg.Wait()

	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	assert.Equal(t, requests, counts[0]+counts[1], "counts %v: each expiry is counted by the sweep that made it", counts)
	perRequest := map[string]int{}
	for _, a := range e.audit(t) {
		require.Equal(t, approval.AuditExpired, a.Action)
		perRequest[a.ApprovalID]++
	}
	reported := map[string]int{}
	for _, r := range e.decidedCalls() {
		reported[r.ID]++
	}
	for i := range requests {
		id := fmt.Sprintf("apr-%d", i)
		assert.Equal(t, approval.StatusExpired, e.status(t, id), id)
		assert.Equal(t, 1, perRequest[id], "audit entries of %s", id)
		assert.Equal(t, 1, reported[id], "Decided FollowUps for %s", id)
	}
	assert.Len(t, perRequest, requests)
}

// racyLister lists requests that have changed since (decided, or gone),
// as a listing read just before another replica acted would.
type racyLister struct {
	*testStore
	extra []string // IDs of org-1
}

func (s racyLister) ListExpired(ctx context.Context, now time.Time, limit int) ([]approval.Request, error) {
	due, err := s.testStore.ListExpired(ctx, now, limit)
	var listed []approval.Request
	for _, id := range s.extra {
		listed = append(listed, approval.Request{OrgID: "org-1", ID: id})
	}
	return append(listed, due...), err
}

func TestExpireDueSkipsRequestsChangedSinceListing(t *testing.T) {
	e := dueEnv(t, 1)
	e.now = e.now.Add(-time.Hour) // before the deadlines: Review works
	e.create(t, approval.Request{ID: "approved"})
	e.create(t, approval.Request{ID: "denied"})
	e.create(t, approval.Request{ID: "not-due-yet", ExpiresAt: e.now.Add(10 * time.Hour)})
	for id, d := range map[string]approval.Decision{"approved": approval.Approve, "denied": approval.Deny} {
		_, err := e.svc.Review(t.Context(), "org-1", id, d, amy, approval.SourceTeams)
		require.NoError(t, err)
	}
	e.now = e.now.Add(2 * time.Hour)
	_, err := e.svc.Expire(t.Context(), "org-1", "apr-0") // expired by another sweep
	require.NoError(t, err)
	e.create(t, approval.Request{ID: "due", ExpiresAt: e.now.Add(-time.Minute)})
	lister := racyLister{e.store, []string{"approved", "denied", "apr-0", "gone", "not-due-yet"}}
	svc, err := approval.NewService(lister, e.store, &approval.Options{Now: func() time.Time { return e.now }})
	require.NoError(t, err)

	n, err := svc.ExpireDue(t.Context(), 10)

	require.NoError(t, err, "requests decided, expired or removed since the listing are not errors")
	assert.Equal(t, 1, n, "only the one still pending and due")
	assert.Equal(t, approval.StatusExpired, e.status(t, "due"))
	assert.Equal(t, approval.StatusApproved, e.status(t, "approved"))
	assert.Equal(t, approval.StatusDenied, e.status(t, "denied"))
	assert.Equal(t, approval.StatusPending, e.status(t, "not-due-yet"), "Expire checks the deadline again")
}

// withoutLister hides the store's ListExpired.
type withoutLister struct{ approval.ApprovalStore }

func TestExpireDueNeedsAnExpiryLister(t *testing.T) {
	st := newTestStore()
	svc, err := approval.NewService(withoutLister{st}, st, nil)
	require.NoError(t, err)
	n, err := svc.ExpireDue(t.Context(), 10)
	assert.Zero(t, n)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Contains(t, err.Error(), "ExpiryLister")
}

// faultyStore fails to list, or to read some requests.
type faultyStore struct {
	*testStore
	listErr error
	getErr  map[string]error
}

func (s faultyStore) ListExpired(ctx context.Context, now time.Time, limit int) ([]approval.Request, error) {
	if s.listErr != nil {
		return nil, s.listErr
	}
	return s.testStore.ListExpired(ctx, now, limit)
}

func (s faultyStore) GetApproval(ctx context.Context, orgID, id string) (approval.Request, error) {
	if err := s.getErr[id]; err != nil {
		return approval.Request{}, err
	}
	return s.testStore.GetApproval(ctx, orgID, id)
}

func TestExpireDueReportsStoreErrors(t *testing.T) {
	errDB := errors.New("database is locked")

	t.Run("listing fails", func(t *testing.T) {
		e := dueEnv(t, 2)
		svc, err := approval.NewService(faultyStore{testStore: e.store, listErr: errDB}, e.store,
			&approval.Options{Now: func() time.Time { return e.now }})
		require.NoError(t, err)
		n, err := svc.ExpireDue(t.Context(), 10)
		assert.Zero(t, n)
		require.ErrorIs(t, err, errDB)
		assert.Equal(t, approval.StatusPending, e.status(t, "apr-0"))
	})

	t.Run("one request fails, the others are expired", func(t *testing.T) {
		e := dueEnv(t, 3)
		svc, err := approval.NewService(faultyStore{testStore: e.store, getErr: map[string]error{"apr-1": errDB}}, e.store,
			&approval.Options{Now: func() time.Time { return e.now }})
		require.NoError(t, err)
		n, err := svc.ExpireDue(t.Context(), 10)
		assert.Equal(t, 2, n)
		require.ErrorIs(t, err, errDB)
		assert.Contains(t, err.Error(), "apr-1", "the error says which request")
		assert.Equal(t, approval.StatusExpired, e.status(t, "apr-0"))
		assert.Equal(t, approval.StatusPending, e.status(t, "apr-1"), "left for the next sweep")
		assert.Equal(t, approval.StatusExpired, e.status(t, "apr-2"))
	})
}

func TestExpireDueStopsWhenContextIsDone(t *testing.T) {
	e := dueEnv(t, 3)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	n, err := e.svc.ExpireDue(ctx, 10)
	assert.Zero(t, n)
	require.ErrorIs(t, err, context.Canceled)
	for i := range 3 {
		assert.Equal(t, approval.StatusPending, e.status(t, fmt.Sprintf("apr-%d", i)))
	}
	assert.Empty(t, e.audit(t))
}
