package notify_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// savesLog is a DeliveryStore that records every save before handing it
// to the store underneath, and can be made to fail them.
type savesLog struct {
	notify.DeliveryStore
	mu    sync.Mutex
	saves []notify.Delivery
	fail  error
}

func (s *savesLog) SaveDelivery(ctx context.Context, d notify.Delivery) error {
	s.mu.Lock()
	s.saves = append(s.saves, d)
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	return s.DeliveryStore.SaveDelivery(ctx, d)
}

// of returns the saves of the deliveries of channel channelID, in order.
func (s *savesLog) of(channelID string) []notify.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []notify.Delivery
	for _, d := range s.saves {
		if d.ChannelID == channelID {
			out = append(out, d)
		}
	}
	return out
}

func statuses(ds []notify.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Status)
	}
	return out
}

type logFixture struct {
	f     *fakes
	st    *memstore.Store
	log   *savesLog
	d     *notify.Dispatcher
	clock *fakeClock
	bot   notify.Channel
	hook  notify.Channel
}

func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	lf := &logFixture{f: newFakes(t), st: memstore.New(), clock: newFakeClock()}
	lf.log = &savesLog{DeliveryStore: lf.st.Deliveries()}
	lf.bot = seedChannel(t, lf.st, "org-1", lf.f.botChannel())
	lf.hook = seedChannel(t, lf.st, "org-1", lf.f.hookChannel())
	d, err := notify.NewDispatcher(lf.st, lf.f.sender(t, nil), lf.clock.options(&notify.DispatcherOptions{
		Deliveries: lf.log, DisableRateLimit: true, MaxAttempts: 3, Logger: debugLogger(lf.f.log),
		Posts: lf.st, Approvals: lf.st,
	}))
	require.NoError(t, err)
	notify.SetJitter(d, func() float64 { return 0 })
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	lf.d = d
	return lf
}

func (lf *logFixture) enqueue(t *testing.T, ev notify.Event) {
	t.Helper()
	require.NoError(t, lf.d.Enqueue("org-1", ev))
	notify.WaitIdle(lf.d)
}

// noSecrets checks that no saved delivery holds a channel's secret, in
// any field, Retry and OrgID included.
func (lf *logFixture) noSecrets(t *testing.T) {
	t.Helper()
	lf.log.mu.Lock()
	all := slices.Clone(lf.log.saves)
	lf.log.mu.Unlock()
	require.NotEmpty(t, all)
	for _, d := range all {
		s := fmt.Sprintf("%+v %s", d, d.Retry)
		for _, sec := range []string{botToken, hookSecret, lf.hook.Config.WebhookURL, lf.bot.Config.BotToken} {
			assert.NotContains(t, s, sec, "a secret in a saved delivery")
		}
	}
}

func TestDeliveriesLogPendingThenDelivered(t *testing.T) {
	lf := newLogFixture(t)
	lf.enqueue(t, notify.DriftAlert{Resource: "sg-1", Severity: notify.SeverityHigh})

	for _, ch := range []notify.Channel{lf.bot, lf.hook} {
		saves := lf.log.of(ch.ID)
		require.Equal(t, []string{"pending", "delivered"}, statuses(saves), ch.Name)
		created, done := saves[0], saves[1]
		assert.Equal(t, created.ID, done.ID)
		assert.Equal(t, "org-1", created.OrgID)
		assert.Equal(t, "post", created.Op)
		assert.Equal(t, notify.EventDriftAlert, created.Event)
		assert.Zero(t, created.Attempts)
		assert.Empty(t, created.Reason)
		assert.NotEmpty(t, created.Retry, "what a retry needs")
		assert.Equal(t, 1, done.Attempts)
		require.NotNil(t, done.DeliveredAt)
		assert.Nil(t, done.FirstFailedAt)
		assert.Empty(t, done.Reason)

		hl, err := lf.st.Deliveries().ChannelHealth(t.Context(), "org-1", ch.ID)
		require.NoError(t, err)
		require.NotNil(t, hl.LastDeliveredAt)
		assert.Nil(t, hl.FailingSince)
		assert.Zero(t, hl.Pending)
	}
	lf.noSecrets(t)
}

func TestDeliveriesLogRetriedThenFailed(t *testing.T) {
	lf := newLogFixture(t)
	lf.f.srv.FailNext(3, notifytest.Fault{Method: "chat.postMessage"}) // 503 on every try of the bot channel
	lf.enqueue(t, notify.DriftAlert{Resource: "sg-1", Severity: notify.SeverityHigh})

	saves := lf.log.of(lf.bot.ID)
	require.Equal(t, []string{"pending", "pending", "pending", "failed"}, statuses(saves))
	assert.Empty(t, saves[0].Reason, "no reason before the first attempt")
	first := saves[1].FirstFailedAt
	require.NotNil(t, first)
	for i, s := range saves[1:] {
		assert.Equal(t, i+1, s.Attempts)
		assert.NotEmpty(t, s.Reason)
		assert.NotEmpty(t, s.Code)
		require.NotNil(t, s.FirstFailedAt)
		assert.True(t, s.FirstFailedAt.Equal(*first), "FirstFailedAt is kept")
		assert.False(t, s.UpdatedAt.Before(saves[i].UpdatedAt), "UpdatedAt moves at the end of each attempt")
		assert.Nil(t, s.DeliveredAt)
	}
	assert.True(t, saves[3].UpdatedAt.After(*first), "the clock moved with the backoff")

	hl, err := lf.st.Deliveries().ChannelHealth(t.Context(), "org-1", lf.bot.ID)
	require.NoError(t, err)
	require.NotNil(t, hl.FailingSince)
	assert.Equal(t, 1, hl.Failed)
	assert.Equal(t, saves[3].Reason, hl.LastError)

	// Retry: a fresh job; the delivery is pending without a reason, then
	// delivered, its attempts and FirstFailedAt kept.
	failed := saves[3]
	require.NoError(t, lf.d.Retry(t.Context(), notify.Delivery{OrgID: "org-1", ID: failed.ID}))
	notify.WaitIdle(lf.d)
	saves = lf.log.of(lf.bot.ID)
	require.Equal(t, []string{"pending", "pending", "pending", "failed", "pending", "delivered"}, statuses(saves))
	queued, done := saves[4], saves[5]
	assert.Equal(t, failed.ID, done.ID)
	assert.Empty(t, queued.Reason)
	assert.Empty(t, queued.Code)
	assert.Equal(t, 3, queued.Attempts)
	assert.Equal(t, 4, done.Attempts)
	require.NotNil(t, done.FirstFailedAt)
	assert.True(t, done.FirstFailedAt.Equal(*first))
	require.NotNil(t, done.DeliveredAt)

	hl, err = lf.st.Deliveries().ChannelHealth(t.Context(), "org-1", lf.bot.ID)
	require.NoError(t, err)
	assert.Nil(t, hl.FailingSince)
	require.NotNil(t, hl.LastDeliveredAt)
	assert.Zero(t, hl.Failed)

	// No longer failed: a conflict; gone or of another organisation: not found.
	err = lf.d.Retry(t.Context(), notify.Delivery{OrgID: "org-1", ID: failed.ID})
	assert.ErrorIs(t, err, notify.ErrConflict)
	assert.ErrorIs(t, lf.d.Retry(t.Context(), notify.Delivery{OrgID: "org-1", ID: "nope"}), notify.ErrNotFound)
	assert.ErrorIs(t, lf.d.Retry(t.Context(), notify.Delivery{OrgID: "org-2", ID: failed.ID}), notify.ErrNotFound)
	assert.Len(t, lf.log.of(lf.bot.ID), 6, "a refused retry saves nothing")
	lf.noSecrets(t)
}

// A permanent error ends the job at once; a retry posts the approval
// request and records its copy.
func TestDeliveriesLogApprovalRetry(t *testing.T) {
	lf := newLogFixture(t)
	lf.f.srv.FailNext(1, notifytest.Fault{Method: "chat.postMessage", Error: "channel_not_found"})
	r := request()
	created, err := lf.st.CreateApproval(t.Context(), r)
	require.NoError(t, err)
	lf.enqueue(t, notify.ApprovalRequested{Request: created})

	saves := lf.log.of(lf.bot.ID)
	require.Equal(t, []string{"pending", "failed"}, statuses(saves))
	failed := saves[1]
	assert.Equal(t, "channel_not_found", failed.Code)
	assert.Equal(t, created.ID, failed.ApprovalID)
	assert.Equal(t, 1, failed.Attempts)

	// Retried while pending: posted, and the copy recorded.
	require.NoError(t, lf.d.Retry(t.Context(), notify.Delivery{OrgID: "org-1", ID: failed.ID}))
	notify.WaitIdle(lf.d)
	require.Equal(t, []string{"pending", "failed", "pending", "delivered"}, statuses(lf.log.of(lf.bot.ID)))
	posts, err := lf.st.ListPosts(t.Context(), "org-1", created.ID)
	require.NoError(t, err)
	assert.Len(t, posts, 2, "both channels' copies are recorded")
	lf.noSecrets(t)
}

// A retry of a post of an approval request decided meanwhile is not
// made (it would offer buttons on a closed request): the delivery stays
// failed, saying why.
func TestDeliveriesLogRetryOfDecidedPost(t *testing.T) {
	lf := newLogFixture(t)
	lf.f.srv.FailNext(1, notifytest.Fault{Method: "chat.postMessage", Error: "channel_not_found"})
	created, err := lf.st.CreateApproval(t.Context(), request())
	require.NoError(t, err)
	lf.enqueue(t, notify.ApprovalRequested{Request: created})
	saves := lf.log.of(lf.bot.ID)
	require.Equal(t, []string{"pending", "failed"}, statuses(saves))
	_, err = lf.st.DecideApproval(t.Context(), "org-1", created.ID, approval.Outcome{
		Status: approval.StatusDenied, At: time.Now().UTC(), ReviewedBy: "alice", Source: approval.SourceAPI})
	require.NoError(t, err)
	posts := lf.f.count("chat.postMessage")

	require.NoError(t, lf.d.Retry(t.Context(), notify.Delivery{OrgID: "org-1", ID: saves[1].ID}))
	notify.WaitIdle(lf.d)
	saves = lf.log.of(lf.bot.ID)
	require.Equal(t, []string{"pending", "failed", "failed"}, statuses(saves))
	assert.Equal(t, "not_pending", saves[2].Code)
	assert.Equal(t, 1, saves[2].Attempts, "no attempt was made")
	assert.Equal(t, posts, lf.f.count("chat.postMessage"), "nothing was posted")
}

// A webhook that answers an error is logged failed, with a reason that
// names no secret of the channel.
func TestDeliveriesLogWebhookFailureHasNoSecret(t *testing.T) {
	lf := newLogFixture(t)
	lf.f.srv.FailNext(1, notifytest.Fault{Method: "webhook", Error: "no_service"})
	lf.enqueue(t, notify.DriftAlert{Resource: "sg-1", Severity: notify.SeverityHigh})
	saves := lf.log.of(lf.hook.ID)
	require.Equal(t, []string{"pending", "failed"}, statuses(saves))
	assert.NotEmpty(t, saves[1].Reason)
	assert.Equal(t, []string{"pending", "delivered"}, statuses(lf.log.of(lf.bot.ID)), "one failing channel delays only itself")
	lf.noSecrets(t)
}

// A store that cannot save never fails a delivery: it is logged.
func TestDeliveriesLogStoreErrorIsLogged(t *testing.T) {
	lf := newLogFixture(t)
	lf.log.fail = errors.New("disk full")
	var got results
	d, err := notify.NewDispatcher(lf.st, lf.f.sender(t, nil), &notify.DispatcherOptions{
		Deliveries: lf.log, DisableRateLimit: true, OnDelivery: got.add, Logger: debugLogger(lf.f.log),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	res := deliver(t, d, &got, "org-1", notify.DriftAlert{Resource: "sg-1", Severity: notify.SeverityHigh})
	require.Len(t, res, 2)
	for _, r := range res {
		assert.True(t, r.OK, r.ChannelName)
	}
	assert.Contains(t, lf.f.log.String(), "could not save a delivery")
	assert.Contains(t, lf.f.log.String(), "disk full")
}

func TestRetryNeedsTheLog(t *testing.T) {
	f := newFakes(t)
	d, err := notify.NewDispatcher(memstore.New(), f.sender(t, nil), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	assert.Error(t, d.Retry(t.Context(), notify.Delivery{OrgID: "org-1", ID: "x"}))
}
