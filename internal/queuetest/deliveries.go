package queuetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// The deliveries log, Retry and the Sweep on the durable queue: what
// admins see of a delivery, one retry won across Dispatchers, and one
// sweep per tick across Dispatchers.

// newLoggedRig is newRig with the store's own deliveries log.
func newLoggedRig(t *testing.T, b Backend, loc string, fake *notifytest.Server, opts *notify.DispatcherOptions) *rig {
	t.Helper()
	st := b.Open(t, loc)
	sender, err := notify.NewSender(&notify.SenderOptions{SlackAPIURL: fake.SlackAPIURL(), AllowLoopbackURLs: true})
	require.NoError(t, err)
	res := newResults()
	o := notify.DispatcherOptions{}
	if opts != nil {
		o = *opts
	}
	o.OnDelivery, o.Durable, o.Deliveries = res.add, true, st.Deliveries()
	d, err := notify.NewDispatcher(st, sender, &o)
	require.NoError(t, err)
	svc, err := approval.NewService(st, st, &approval.Options{FollowUp: d.FollowUp})
	require.NoError(t, err)
	r := &rig{store: st, fake: fake, d: d, svc: svc, res: res}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Close(ctx)
		_ = st.Close()
	})
	return r
}

// accepted returns the chat.postMessage calls the fake accepted (a Slack
// error is an HTTP 200 too).
func accepted(fake *notifytest.Server) []notifytest.Request {
	var out []notifytest.Request
	for _, r := range posts(fake, "chat.postMessage", 200) {
		if r.Error == "" {
			out = append(out, r)
		}
	}
	return out
}

// deliveries lists the deliveries of ch, newest first.
func (r *rig) deliveries(t *testing.T, ch notify.Channel) []notify.Delivery {
	t.Helper()
	ds, err := r.store.ListDeliveries(t.Context(), "acme", ch.ID, notify.Delivery{}, 100)
	require.NoError(t, err)
	return ds
}

// waitDeliveries waits until ch has n deliveries that all satisfy ok.
func (r *rig) waitDeliveries(t *testing.T, ch notify.Channel, n int, timeout time.Duration, ok func(notify.Delivery) bool) []notify.Delivery {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ds := r.deliveries(t, ch)
		good := len(ds) == n
		for _, d := range ds {
			good = good && ok(d)
		}
		if good {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries of %s after %s: %+v", ch.Name, timeout, ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RunDeliveries runs the deliveries-log tests of the durable queue.
func RunDeliveries(t *testing.T, b Backend) {
	t.Run("PendingThenDelivered", func(t *testing.T) { testLogPendingThenDelivered(t, b) })
	t.Run("PermanentFailure", func(t *testing.T) { testLogPermanent(t, b) })
	t.Run("RetryAfterAndRetryEndpoint", func(t *testing.T) { testLogRetry(t, b) })
	t.Run("LogFailureDoesNotResend", func(t *testing.T) { testLogFailure(t, b) })
}

// The deliveries log never decides a delivery: with its table gone while
// a post is in flight, the post completes all the same, and is sent once.
func testLogFailure(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newLoggedRig(t, b, loc, fake, nil)
	ch := r.slackChannel(t, "sec", "C1")
	raw := b.Raw(t, loc)
	fake.FailNext(1, notifytest.Fault{Method: "chat.postMessage", Status: 503, Delay: 500 * time.Millisecond})
	r.create(t, "log gone")
	r.waitDeliveries(t, ch, 1, 10*time.Second, func(d notify.Delivery) bool { return true })
	_, err := raw.ExecContext(t.Context(), `ALTER TABLE chatnotify_deliveries RENAME TO chatnotify_deliveries_away`)
	require.NoError(t, err)
	got := r.res.wait(t, 1, 20*time.Second)[0]
	assert.True(t, got.OK, "%+v", got)
	assert.Equal(t, 2, got.Attempts, "the 503, then the success")
	time.Sleep(500 * time.Millisecond) // a resend would arrive now
	assert.Len(t, accepted(fake), 1, "sent once")
	assert.Equal(t, 1, count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.post' AND state = 'completed'`))
}

// A post is logged pending in the transaction that creates its job,
// pending with the reason of a failed try, and delivered in the
// transaction completing it; the decision's update of the copy is a
// delivery of its own.
func testLogPendingThenDelivered(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newLoggedRig(t, b, loc, fake, nil)
	ch := r.slackChannel(t, "sec", "C1")
	raw := b.Raw(t, loc)
	// The first try is held 1.5 s, then fails with a 503.
	fake.FailNext(1, notifytest.Fault{Method: "chat.postMessage", Status: 503, Delay: 1500 * time.Millisecond})
	req := r.create(t, "logged")

	pending := r.waitDeliveries(t, ch, 1, 10*time.Second, func(d notify.Delivery) bool { return true })[0]
	assert.Equal(t, "pending", pending.Status, "logged when its job was created, before any answer")
	assert.Equal(t, "post", pending.Op)
	assert.Equal(t, req.ID, pending.ApprovalID)
	assert.Equal(t, notify.EventApprovalRequest, pending.Event)
	assert.Zero(t, pending.Attempts)
	assert.Equal(t, 1, count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.post'`),
		"one post job for the one delivery")

	// The failed try: pending with its reason, then the retry delivers.
	failing := r.waitDeliveries(t, ch, 1, 10*time.Second, func(d notify.Delivery) bool { return d.Reason != "" || d.Status != "pending" })[0]
	t.Logf("after the 503: %s, %d attempt(s), reason %q", failing.Status, failing.Attempts, failing.Reason)
	got := r.res.wait(t, 1, 20*time.Second)
	require.True(t, got[0].OK, "%+v", got[0])
	d := r.waitDeliveries(t, ch, 1, 5*time.Second, func(d notify.Delivery) bool { return d.Status == "delivered" })[0]
	assert.Equal(t, pending.ID, d.ID)
	assert.Equal(t, 2, d.Attempts)
	assert.Empty(t, d.Reason)
	assert.Empty(t, d.Code)
	require.NotNil(t, d.DeliveredAt)
	require.NotNil(t, d.FirstFailedAt, "the failure's time is kept")
	assert.True(t, d.CreatedAt.Equal(pending.CreatedAt), "created_at never changes")
	h, err := r.store.ChannelHealth(t.Context(), "acme", ch.ID)
	require.NoError(t, err)
	assert.Zero(t, h.Pending)
	assert.Zero(t, h.Failed)
	assert.NotNil(t, h.LastDeliveredAt)
	assert.Nil(t, h.FailingSince, "recovered")

	// The decision: one update of the copy, logged as its own delivery.
	_, err = r.svc.Review(t.Context(), "acme", req.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceAPI)
	require.NoError(t, err)
	require.True(t, r.res.wait(t, 1, 10*time.Second)[0].OK)
	ds := r.waitDeliveries(t, ch, 2, 5*time.Second, func(d notify.Delivery) bool { return d.Status == "delivered" })
	ops := []string{ds[0].Op, ds[1].Op}
	sort.Strings(ops)
	assert.Equal(t, []string{"post", "update"}, ops)
	for _, d := range ds {
		assert.Equal(t, req.ID, d.ApprovalID)
	}
	assert.Equal(t, 2, count(t, raw, `SELECT count(*) FROM chatnotify_deliveries`), "one row per job")
}

// A permanent failure ends the delivery at once, failed with its
// classified reason; the channel's health says so.
func testLogPermanent(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newLoggedRig(t, b, loc, fake, nil)
	ch := r.slackChannel(t, "sec", "C1")
	fake.FailNext(1, notifytest.PlatformError("channel_not_found"))
	r.create(t, "gone")
	require.False(t, r.res.wait(t, 1, 10*time.Second)[0].OK)
	d := r.waitDeliveries(t, ch, 1, 5*time.Second, func(d notify.Delivery) bool { return d.Status == "failed" })[0]
	assert.Equal(t, "channel_not_found", d.Code)
	assert.NotEmpty(t, d.Reason)
	assert.Equal(t, 1, d.Attempts)
	assert.NotNil(t, d.FirstFailedAt)
	assert.Nil(t, d.DeliveredAt)
	h, err := r.store.ChannelHealth(t.Context(), "acme", ch.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, h.Failed)
	assert.Equal(t, d.Reason, h.LastError)
	assert.NotNil(t, h.FailingSince)
}

// A 429 is a logged try (the job's attempt is not spent); an admin's
// retry of a failed delivery makes it again, under the same delivery.
func testLogRetry(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newLoggedRig(t, b, loc, fake, nil)
	ch := r.slackChannel(t, "sec", "C1")
	fake.FailNext(1, notifytest.RateLimited(time.Second))
	fake.FailNext(1, notifytest.PlatformError("not_in_channel"))
	r.create(t, "retry me")
	res := r.res.wait(t, 1, 20*time.Second)[0]
	require.False(t, res.OK)
	assert.Equal(t, 1, res.Attempts, "the 429 spent no attempt of the job")
	failed := r.waitDeliveries(t, ch, 1, 5*time.Second, func(d notify.Delivery) bool { return d.Status == "failed" })[0]
	assert.Equal(t, 2, failed.Attempts, "the log counts both calls to Slack")
	assert.Equal(t, "not_in_channel", failed.Code)

	require.NoError(t, r.d.Retry(t.Context(), failed))
	err := r.d.Retry(t.Context(), failed)
	assert.ErrorIs(t, err, notify.ErrConflict, "a second retry finds it pending (or delivered)")
	require.True(t, r.res.wait(t, 1, 10*time.Second)[0].OK)
	d := r.waitDeliveries(t, ch, 1, 5*time.Second, func(d notify.Delivery) bool { return d.Status == "delivered" })[0]
	assert.Equal(t, failed.ID, d.ID)
	assert.Equal(t, 3, d.Attempts)
	assert.Empty(t, d.Reason)
	assert.Len(t, accepted(fake), 1)
	assert.ErrorIs(t, r.d.Retry(t.Context(), d), notify.ErrConflict, "delivered: nothing to retry")
}

// RunRetryRace fails n deliveries, then has callers on two Dispatchers
// (two pools, two River clients) on one database retry each one at once:
// exactly one call per delivery wins, and each is made once more. It
// returns the number of calls that won and that lost.
func RunRetryRace(t *testing.T, b Backend, n, callers int) (won, lost int) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	opts := &notify.DispatcherOptions{DisableRateLimit: true}
	r1 := newLoggedRig(t, b, loc, fake, opts)
	r2 := newLoggedRig(t, b, loc, fake, opts)
	ch := r1.slackChannel(t, "sec", "C1")
	fake.FailNext(n, notifytest.PlatformError("channel_not_found"))
	for i := range n {
		r1.create(t, fmt.Sprintf("race %d", i))
	}
	failed := r1.waitDeliveries(t, ch, n, 30*time.Second, func(d notify.Delivery) bool { return d.Status == "failed" })

	for _, f := range failed {
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, callers)
		)
		for i := range callers {
			d := r1.d
			if i%2 == 1 {
				d = r2.d
			}
			wg.Go(func() {
				<-start
				errs[i] = d.Retry(t.Context(), f)
			})
		}
		close(start)
		wg.Wait()
		w := 0
		for _, err := range errs {
			switch {
			case err == nil:
				w++
			case errors.Is(err, notify.ErrConflict):
				lost++
			default:
				t.Errorf("retry of %s: %v", f.ID, err)
			}
		}
		assert.Equal(t, 1, w, "retries of %s won: %v", f.ID, errs)
		won += w
	}
	r1.waitDeliveries(t, ch, n, 30*time.Second, func(d notify.Delivery) bool { return d.Status == "delivered" })
	time.Sleep(300 * time.Millisecond) // any duplicate would arrive now
	assert.Len(t, accepted(fake), n, "each retried delivery posted once")
	raw := b.Raw(t, loc)
	assert.Equal(t, 2*n, count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.post'`),
		"one new job per delivery")
	return won, lost
}

// sweepRun is one run of a Sweep.
type sweepRun struct {
	who        int
	start, end time.Time
}

// sweepLog records the runs of the Sweeps of several Dispatchers.
type sweepLog struct {
	mu      sync.Mutex
	runs    []sweepRun
	running int
	maxConc int
}

func (l *sweepLog) sweep(who int, took time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		l.mu.Lock()
		l.running++
		l.maxConc = max(l.maxConc, l.running)
		l.mu.Unlock()
		start := time.Now()
		select {
		case <-time.After(took):
		case <-ctx.Done():
		}
		l.mu.Lock()
		l.running--
		l.runs = append(l.runs, sweepRun{who: who, start: start, end: time.Now()})
		l.mu.Unlock()
		return nil
	}
}

func (l *sweepLog) snapshot() ([]sweepRun, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := append([]sweepRun(nil), l.runs...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].start.Before(rs[j].start) })
	return rs, l.maxConc
}

// RunSweep runs the Sweep tests with two Dispatchers on one database.
func RunSweep(t *testing.T, b Backend) {
	t.Run("OncePerTick", func(t *testing.T) { testSweepOncePerTick(t, b) })
	t.Run("SlowRunNotDoubled", func(t *testing.T) { testSweepSlow(t, b) })
}

// Two Dispatchers with a 1 s Sweep: one run per tick between them, and
// the runs go on once the leader has stopped.
func testSweepOncePerTick(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	var l sweepLog
	const interval = time.Second
	r1 := newLoggedRig(t, b, loc, fake, &notify.DispatcherOptions{Sweep: l.sweep(1, 0), SweepInterval: interval})
	r2 := newLoggedRig(t, b, loc, fake, &notify.DispatcherOptions{Sweep: l.sweep(2, 0), SweepInterval: interval})
	_ = r2
	deadline := time.Now().Add(20 * time.Second)
	for {
		rs, _ := l.snapshot()
		if len(rs) >= 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	both, _ := l.snapshot()
	require.GreaterOrEqual(t, len(both), 6, "runs within 20 s: %+v", both)
	first, last := both[0].start, both[len(both)-1].start
	ticks := int(math.Round(float64(last.Sub(first))/float64(interval))) + 1 // first and last included
	minGap := time.Hour
	for i := 1; i < len(both); i++ {
		minGap = min(minGap, both[i].start.Sub(both[i-1].start))
	}
	t.Logf("two Dispatchers, Sweep every %s: %d runs over %d ticks (%.2fs), smallest gap %s",
		interval, len(both), ticks, last.Sub(first).Seconds(), minGap.Round(time.Millisecond))
	assert.LessOrEqual(t, len(both), ticks+1, "one run per tick, not one per Dispatcher")
	assert.Greater(t, minGap, interval/2, "no tick ran twice")

	// Stop one of them: the other goes on sweeping (leadership moves).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, r1.d.Close(ctx))
	stopped := time.Now()
	deadline = stopped.Add(30 * time.Second)
	var after []sweepRun
	for len(after) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		rs, _ := l.snapshot()
		after = after[:0]
		for _, r := range rs {
			if r.start.After(stopped) {
				after = append(after, r)
			}
		}
	}
	require.GreaterOrEqual(t, len(after), 2, "runs after the first Dispatcher closed")
	for _, r := range after {
		assert.Equal(t, 2, r.who, "only the open Dispatcher sweeps")
	}
	t.Logf("after closing one Dispatcher, the next run came %s later", after[0].start.Sub(stopped).Round(time.Millisecond))
}

// A run longer than the interval is never doubled by the next tick, on
// either Dispatcher.
func testSweepSlow(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	var l sweepLog
	const interval, took = 300 * time.Millisecond, 1200 * time.Millisecond
	newLoggedRig(t, b, loc, fake, &notify.DispatcherOptions{Sweep: l.sweep(1, took), SweepInterval: interval})
	newLoggedRig(t, b, loc, fake, &notify.DispatcherOptions{Sweep: l.sweep(2, took), SweepInterval: interval})
	deadline := time.Now().Add(20 * time.Second)
	for {
		rs, _ := l.snapshot()
		if len(rs) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	rs, maxConc := l.snapshot()
	require.GreaterOrEqual(t, len(rs), 3)
	t.Logf("Sweep of %s every %s on two Dispatchers: %d runs, at most %d at once", took, interval, len(rs), maxConc)
	assert.Equal(t, 1, maxConc, "never two runs at once")
	for i := 1; i < len(rs); i++ {
		assert.False(t, rs[i].start.Before(rs[i-1].end), "run %d started before run %d ended", i, i-1)
	}
}

// RunClose closes a Dispatcher while a post hangs at the platform, with
// a 3 s window: Close returns nil within it, the post goes back to the
// database with its attempt not spent, a request created and an event
// enqueued after Close are still handed over, and the next Dispatcher
// delivers all three.
func RunClose(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newLoggedRig(t, b, loc, fake, nil)
	ch := r.slackChannel(t, "sec", "C1")
	raw := b.Raw(t, loc)
	fake.FailNext(1, notifytest.Fault{Method: "chat.postMessage", Delay: time.Hour})
	r.create(t, "in flight at close")
	// The fake records a call when it answers: wait for the job to run,
	// then give its call time to reach the fake.
	deadline := time.Now().Add(10 * time.Second)
	for count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.post' AND state = 'running'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the post job is not running")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)

	const window = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	start := time.Now()
	require.NoError(t, r.d.Close(ctx), "nothing is lost: Close reports no error")
	took := time.Since(start)
	t.Logf("Close with a %s window and a hanging post returned nil after %s", window, took.Round(time.Millisecond))
	assert.Less(t, took, window+time.Second, "within the window")
	var state string
	var attempt int
	require.NoError(t, raw.QueryRowContext(t.Context(), `SELECT state, attempt FROM `+b.Jobs+` WHERE kind = 'chatnotify.post'`).
		Scan(&state, &attempt))
	assert.Equal(t, "available", state, "back in the queue")
	assert.Zero(t, attempt, "the cut attempt is not spent")
	d := r.deliveries(t, ch)
	require.Len(t, d, 1)
	assert.Equal(t, "pending", d[0].Status)
	assert.Zero(t, d[0].Attempts, "a try cut by the stop is not logged")

	// Handed over after Close: by the store's own transaction, and by
	// Enqueue.
	r.create(t, "created after close")
	assert.Equal(t, 2, count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.fan_out'`))
	require.NoError(t, r.d.Enqueue("acme", notify.AgentStatusChanged{Agent: "bot", Status: notify.AgentDeployed}))
	assert.Equal(t, 3, count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.fan_out'`))
	require.NoError(t, r.store.Close())

	// The hanging fault was used up by the cut call (the fake records no
	// call its client gave up on), so the next start's posts are answered.
	r2 := newLoggedRig(t, b, loc, fake, nil)
	got := r2.res.wait(t, 3, 15*time.Second)
	for _, g := range got {
		assert.True(t, g.OK, "%+v", g)
	}
	r2.waitDeliveries(t, ch, 3, 5*time.Second, func(d notify.Delivery) bool { return d.Status == "delivered" })
}
