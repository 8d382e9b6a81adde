package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// fakeClock is an injected clock: Sleep returns at once, moving the time
// forward, and remembers how long it was asked to wait.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1700000000, 0).UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

func (c *fakeClock) options(o *notify.DispatcherOptions) *notify.DispatcherOptions {
	o.Now, o.Sleep = c.Now, c.Sleep
	return o
}

// results collects what OnDelivery receives.
type results struct {
	mu  sync.Mutex
	all []notify.Result
}

func (r *results) add(res notify.Result) {
	r.mu.Lock()
	r.all = append(r.all, res)
	r.mu.Unlock()
}

func (r *results) get() []notify.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all)
}

// op returns the results of one operation ("post", "update", …).
func (r *results) op(op string) []notify.Result {
	var out []notify.Result
	for _, res := range r.get() {
		if res.Op == op {
			out = append(out, res)
		}
	}
	return out
}

// deliver enqueues ev for org, waits until the dispatcher is idle, and
// returns the results reported meanwhile.
func deliver(t *testing.T, d *notify.Dispatcher, got *results, org string, ev notify.Event) []notify.Result {
	t.Helper()
	before := len(got.get())
	require.NoError(t, d.Enqueue(org, ev))
	notify.WaitIdle(d)
	return got.get()[before:]
}

// seedChannel stores ch for org.
func seedChannel(t testing.TB, st *memstore.Store, org string, ch notify.Channel) notify.Channel {
	t.Helper()
	ch.OrgID = org
	ch, err := notify.ValidateWith(ch, true)
	require.NoError(t, err)
	created, err := st.CreateChannel(t.Context(), ch)
	require.NoError(t, err)
	return created
}

func channelNames(rs []notify.Result) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ChannelName)
	}
	slices.Sort(ids)
	return ids
}

func TestEnqueueSubscriptionsAndOrgs(t *testing.T) {
	f := newFakes(t)
	st := memstore.New()
	bot := f.botChannel()
	bot.Name, bot.Events = "bot-all", nil
	seedChannel(t, st, "org-1", bot)
	hook := f.hookChannel()
	hook.Name, hook.Events = "hook-drift", []notify.EventType{notify.EventDriftAlert}
	seedChannel(t, st, "org-1", hook)
	tm := f.teamsChannel(true)
	tm.Name, tm.Events = "teams-approvals-agents", []notify.EventType{notify.EventApprovalRequest, notify.EventAgentStatus}
	seedChannel(t, st, "org-1", tm)
	off := f.hookChannel()
	off.Name, off.Enabled = "disabled", false
	seedChannel(t, st, "org-1", off)
	other := f.teamsChannel(false)
	other.Name = "other-org"
	seedChannel(t, st, "org-2", other)

	var got results
	d, err := notify.NewDispatcher(st, f.sender(t, nil), &notify.DispatcherOptions{OnDelivery: got.add, DisableRateLimit: true, Logger: debugLogger(f.log)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close(context.Background()) })

	cases := []struct {
		ev   notify.Event
		typ  notify.EventType
		want []string
	}{
		{notify.DriftAlert{Resource: "sg", Severity: notify.SeverityHigh}, notify.EventDriftAlert, []string{"bot-all", "hook-drift"}},
		{notify.AgentStatusChanged{Agent: "a", Status: notify.AgentDeployed}, notify.EventAgentStatus, []string{"bot-all", "teams-approvals-agents"}},
		{notify.ApprovalRequested{Request: request()}, notify.EventApprovalRequest, []string{"bot-all", "teams-approvals-agents"}},
	}
	for _, c := range cases {
		t.Run(string(c.typ), func(t *testing.T) {
			f.srv.Reset()
			rs := deliver(t, d, &got, "org-1", c.ev)
			assert.Equal(t, c.want, channelNames(rs), "one result per subscribed, enabled channel of the org")
			for _, r := range rs {
				assert.True(t, r.OK, "%s: %s", r.ChannelName, r.Error)
				assert.Equal(t, 1, r.Attempts)
				assert.Equal(t, c.typ, r.Event)
				assert.Equal(t, "post", r.Op)
				assert.Equal(t, "org-1", r.OrgID)
			}
			assert.Empty(t, f.requests("teams"), "the other org's legacy Teams webhook is never used")
		})
	}

	t.Run("an org without channels gets no results", func(t *testing.T) {
		assert.Empty(t, deliver(t, d, &got, "org-none", notify.DriftAlert{Resource: "x"}))
	})
	t.Run("an approval request of another org is refused", func(t *testing.T) {
		f.srv.Reset()
		r := request()
		r.OrgID = "org-2"
		assert.ErrorContains(t, d.Enqueue("org-1", notify.ApprovalRequested{Request: r}), "another organisation")
		notify.WaitIdle(d)
		assert.Equal(t, 0, f.count(""))
	})
	t.Run("test messages are not subscribable", func(t *testing.T) {
		for _, ev := range []notify.Event{notify.TestMessage{Text: "x"}, &notify.TestMessage{Text: "x"}, nil} {
			assert.Error(t, d.Enqueue("org-1", ev))
		}
	})
	t.Run("a store failure is retried, then logged", func(t *testing.T) {
		clock := newFakeClock()
		d2, err := notify.NewDispatcher(brokenChannelStore{st}, f.sender(t, nil), clock.options(&notify.DispatcherOptions{Logger: debugLogger(f.log)}))
		require.NoError(t, err)
		require.NoError(t, d2.Enqueue("org-1", notify.DriftAlert{Resource: "x"}))
		require.NoError(t, d2.Close(t.Context()))
		assert.Len(t, clock.Sleeps(), 3, "the one retry policy: 4 attempts")
		assert.Contains(t, f.log.String(), "could not queue the deliveries")
		assert.Contains(t, f.log.String(), "boom")
	})
}

type brokenChannelStore struct{ notify.ChannelStore }

func (brokenChannelStore) ListChannels(context.Context, string) ([]notify.Channel, error) {
	return nil, errors.New("boom")
}

func TestFailuresAreReportedWithoutSecrets(t *testing.T) {
	f := newFakes(t)
	st := memstore.New()
	seedChannel(t, st, "org-1", f.botChannel())
	seedChannel(t, st, "org-1", f.hookChannel())
	seedChannel(t, st, "org-1", f.teamsChannel(true))
	var got results
	d, err := notify.NewDispatcher(st, f.sender(t, nil), &notify.DispatcherOptions{
		OnDelivery: got.add, DisableRateLimit: true, Logger: debugLogger(f.log),
	})
	require.NoError(t, err)
	f.srv.FailNext(1, notifytest.Fault{Method: "chat.postMessage", Error: "channel_not_found"})
	f.srv.FailNext(1, notifytest.Fault{Method: "webhook", Error: "channel_not_found"})
	f.srv.FailNext(1, notifytest.Fault{Method: "workflows", Status: 404, Error: "gone " + sigSecret})
	require.NoError(t, d.Enqueue("org-1", notify.DriftAlert{Resource: "x"}))
	require.NoError(t, d.Close(t.Context()))
	rs := got.get()
	require.Len(t, rs, 3)
	for _, r := range rs {
		assert.False(t, r.OK)
		assert.Equal(t, 1, r.Attempts, "permanent errors are not retried")
		assert.NotEmpty(t, r.Error)
		assert.NotEmpty(t, r.Code)
		var de *notify.DeliveryError
		assert.ErrorAs(t, r.Err, &de)
		assertSecretFree(t, fmt.Sprintf("%+v %s", r, mustMarshal(t, r)))
	}
	assert.Contains(t, f.log.String(), "notify: delivery failed")
	assert.Contains(t, f.log.String(), "channel_not_found")

	t.Run("an unclassified error is logged, its secrets redacted", func(t *testing.T) {
		var got results
		sender := notify.TestSender{Post: func(context.Context, notify.Channel, notify.Event) (notify.Receipt, error) {
			return notify.Receipt{}, errors.New("post https://hooks.slack.com/services/" + hookSecret + " with " + botToken + ": boom")
		}}
		d, err := notify.NewTestDispatcher(st, sender, &notify.DispatcherOptions{OnDelivery: got.add, DisableRateLimit: true, MaxAttempts: 1, Logger: debugLogger(f.log)})
		require.NoError(t, err)
		require.NoError(t, d.Enqueue("org-1", notify.DriftAlert{Resource: "x"}))
		require.NoError(t, d.Close(t.Context()))
		for _, r := range got.get() {
			assert.Equal(t, "error", r.Code)
			assert.Equal(t, "the delivery failed; see the server log", r.Error)
		}
		assert.Contains(t, f.log.String(), ": boom", "the cause is in the log") // the log's secrets are checked at cleanup
	})
}

func TestRetries(t *testing.T) {
	f := newFakes(t)
	st := memstore.New()
	seedChannel(t, st, "org-1", f.hookChannel())
	ev := notify.DriftAlert{Resource: "x"}

	newD := func(t *testing.T, mod func(*notify.DispatcherOptions)) (*notify.Dispatcher, *fakeClock, *results) {
		clock := newFakeClock()
		got := &results{}
		o := clock.options(&notify.DispatcherOptions{DisableRateLimit: true, OnDelivery: got.add})
		if mod != nil {
			mod(o)
		}
		d, err := notify.NewDispatcher(st, f.sender(t, nil), o)
		require.NoError(t, err)
		t.Cleanup(func() { _ = d.Close(context.Background()) })
		notify.SetJitter(d, func() float64 { return 0.5 })
		f.srv.Reset()
		return d, clock, got
	}
	one := func(t *testing.T, d *notify.Dispatcher, got *results) notify.Result {
		rs := deliver(t, d, got, "org-1", ev)
		require.Len(t, rs, 1)
		return rs[0]
	}

	t.Run("429 honours Retry-After", func(t *testing.T) {
		d, clock, got := newD(t, nil)
		f.srv.FailNext(1, notifytest.RateLimited(7*time.Second))
		r := one(t, d, got)
		assert.True(t, r.OK)
		assert.Equal(t, 2, r.Attempts)
		assert.Equal(t, []time.Duration{7 * time.Second}, clock.Sleeps())
	})
	t.Run("a Retry-After given as an HTTP date is honoured too", func(t *testing.T) {
		d, clock, got := newD(t, nil)
		f.srv.FailNext(1, notifytest.Fault{Status: 429, RetryAfter: 20 * time.Second, RetryAfterDate: true})
		r := one(t, d, got)
		assert.True(t, r.OK)
		require.Len(t, clock.Sleeps(), 1)
		assert.InDelta(t, 20, clock.Sleeps()[0].Seconds(), 2)
	})
	t.Run("a Retry-After over the cap ends the retries", func(t *testing.T) {
		d, clock, got := newD(t, func(o *notify.DispatcherOptions) { o.MaxRetryAfter = 30 * time.Second })
		f.srv.FailNext(1, notifytest.RateLimited(time.Minute))
		r := one(t, d, got)
		assert.False(t, r.OK)
		assert.Equal(t, 1, r.Attempts)
		assert.Equal(t, "rate_limited", r.Code)
		assert.Empty(t, clock.Sleeps(), "never retried before the platform allows it")
	})
	t.Run("5xx backs off exponentially with jitter, then succeeds", func(t *testing.T) {
		d, clock, got := newD(t, func(o *notify.DispatcherOptions) { o.BaseBackoff = time.Second })
		f.srv.FailNext(2, notifytest.Fault{Status: 503})
		r := one(t, d, got)
		assert.True(t, r.OK)
		assert.Equal(t, 3, r.Attempts)
		// Jitter 0.5: half of the step plus a quarter of it.
		assert.Equal(t, []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond}, clock.Sleeps())
	})
	t.Run("jitter stays within half and all of the step, capped", func(t *testing.T) {
		for _, j := range []float64{0, 0.999999} {
			d, clock, got := newD(t, func(o *notify.DispatcherOptions) {
				o.BaseBackoff, o.MaxBackoff, o.MaxAttempts = time.Second, 3*time.Second, 5
			})
			notify.SetJitter(d, func() float64 { return j })
			f.srv.FailNext(4, notifytest.Fault{Status: 503})
			require.True(t, one(t, d, got).OK)
			steps := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
			for i, s := range clock.Sleeps() {
				assert.GreaterOrEqual(t, s, steps[i]/2)
				assert.LessOrEqual(t, s, steps[i])
			}
		}
	})
	t.Run("attempts are bounded", func(t *testing.T) {
		d, clock, got := newD(t, func(o *notify.DispatcherOptions) { o.MaxAttempts = 4 })
		f.srv.FailNext(10, notifytest.Fault{Status: 503})
		r := one(t, d, got)
		assert.False(t, r.OK)
		assert.Equal(t, 4, r.Attempts)
		assert.Equal(t, "http_503", r.Code)
		assert.Len(t, clock.Sleeps(), 3)
		assert.Equal(t, 4, f.count("webhook"))
	})
	t.Run("total time is bounded", func(t *testing.T) {
		d, clock, got := newD(t, func(o *notify.DispatcherOptions) {
			o.MaxAttempts, o.BaseBackoff, o.MaxElapsed = 10, 4*time.Second, 10*time.Second
		})
		f.srv.FailNext(10, notifytest.Fault{Status: 503})
		r := one(t, d, got)
		assert.False(t, r.OK)
		// Waits of 3 s and 6 s fit in 10 s; the next (12 s) would not.
		assert.Equal(t, []time.Duration{3 * time.Second, 6 * time.Second}, clock.Sleeps())
		assert.Equal(t, 3, r.Attempts)
	})
	t.Run("permanent errors are not retried", func(t *testing.T) {
		for _, code := range []string{"no_service", "channel_not_found", "channel_is_archived", "invalid_token", "action_prohibited"} {
			d, clock, got := newD(t, nil)
			f.srv.FailNext(1, notifytest.PlatformError(code))
			r := one(t, d, got)
			assert.False(t, r.OK)
			assert.Equal(t, 1, r.Attempts, code)
			assert.Equal(t, code, r.Code)
			assert.Empty(t, clock.Sleeps())
		}
	})
	t.Run("timeouts are retried", func(t *testing.T) {
		d, _, got := newD(t, func(o *notify.DispatcherOptions) { o.AttemptTimeout = 30 * time.Millisecond })
		f.srv.FailNext(2, notifytest.Fault{Delay: time.Minute})
		r := one(t, d, got)
		assert.True(t, r.OK, r.Error)
		assert.Equal(t, 3, r.Attempts)
	})
	t.Run("a 429 holds back the channel's other deliveries", func(t *testing.T) {
		d, clock, got := newD(t, func(o *notify.DispatcherOptions) {
			o.DisableRateLimit = false
			o.SlackRates = []notify.Rate{{N: 100, Per: time.Second}}
			o.MaxAttempts = 1
		})
		f.srv.FailNext(1, notifytest.RateLimited(20*time.Second))
		assert.Equal(t, "rate_limited", one(t, d, got).Code)
		assert.Empty(t, clock.Sleeps())
		r := one(t, d, got)
		assert.True(t, r.OK)
		assert.Equal(t, []time.Duration{20 * time.Second}, clock.Sleeps(), "the next delivery waited for Retry-After")
		assert.True(t, one(t, d, got).OK)
		assert.Len(t, clock.Sleeps(), 1, "and the one after that did not")
	})
}

func TestCancellation(t *testing.T) {
	st := memstore.New()
	f := newFakes(t)
	for i := range 20 {
		ch := f.hookChannel()
		ch.Name = fmt.Sprintf("c%02d", i)
		ch.Config.WebhookURL = f.srv.SlackWebhookURL(fmt.Sprintf("%s%d", hookSecret, i))
		seedChannel(t, st, "org-1", ch)
	}

	t.Run("Close with a passed deadline stops in-flight sends, and the rest never start", func(t *testing.T) {
		var started atomic.Int32
		four := make(chan struct{})
		sender := notify.TestSender{Post: func(ctx context.Context, ch notify.Channel, ev notify.Event) (notify.Receipt, error) {
			if started.Add(1) == 4 {
				close(four)
			}
			<-ctx.Done()
			return notify.Receipt{}, ctx.Err()
		}}
		var got results
		d, err := notify.NewTestDispatcher(st, sender, &notify.DispatcherOptions{Workers: 4, DisableRateLimit: true, OnDelivery: got.add})
		require.NoError(t, err)
		require.NoError(t, d.Enqueue("org-1", notify.DriftAlert{Resource: "x"}))
		<-four
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		assert.ErrorIs(t, d.Close(ctx), context.Canceled)
		settle(t, func() bool { return len(got.get()) == 20 })
		for _, r := range got.get() {
			assert.False(t, r.OK)
			assert.Equal(t, "canceled", r.Code)
			assert.LessOrEqual(t, r.Attempts, 1)
		}
		assert.Equal(t, int32(4), started.Load(), "no send starts after cancellation")
	})

	t.Run("a backoff wait ends with Close's deadline", func(t *testing.T) {
		var calls atomic.Int32
		twenty := make(chan struct{})
		sender := notify.TestSender{Post: func(ctx context.Context, ch notify.Channel, ev notify.Event) (notify.Receipt, error) {
			if calls.Add(1) == 20 {
				close(twenty)
			}
			return notify.Receipt{}, &notify.DeliveryError{Reason: "down", Code: "http_503"}
		}}
		var got results
		// A real clock and an hour of backoff: only cancellation ends it.
		d, err := notify.NewTestDispatcher(st, sender, &notify.DispatcherOptions{
			Workers: 20, DisableRateLimit: true, BaseBackoff: time.Hour, MaxBackoff: time.Hour, MaxElapsed: 10 * time.Hour, OnDelivery: got.add,
		})
		require.NoError(t, err)
		require.NoError(t, d.Enqueue("org-1", notify.DriftAlert{Resource: "x"}))
		<-twenty
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, d.Close(ctx), context.DeadlineExceeded)
		settle(t, func() bool { return len(got.get()) == 20 })
		for _, r := range got.get() {
			assert.False(t, r.OK)
			assert.Equal(t, "canceled", r.Code)
			assert.Equal(t, 1, r.Attempts)
		}
	})
}

func TestDestinationsAreIndependent(t *testing.T) {
	st := memstore.New()
	f := newFakes(t)
	slow := f.hookChannel()
	slow.Name, slow.Config.WebhookURL = "slow", f.srv.SlackWebhookURL("slow"+hookSecret)
	seedChannel(t, st, "org-1", slow)
	fast := f.hookChannel()
	fast.Name, fast.Config.WebhookURL = "fast", f.srv.SlackWebhookURL("fast"+hookSecret)
	seedChannel(t, st, "org-1", fast)

	t.Run("a hanging destination delays only itself", func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		var order []string
		sender := notify.TestSender{Post: func(ctx context.Context, ch notify.Channel, ev notify.Event) (notify.Receipt, error) {
			if ch.Name == "slow" {
				<-release
			}
			mu.Lock()
			order = append(order, ch.Name+":"+ev.(notify.DriftAlert).Resource)
			mu.Unlock()
			return notify.Receipt{}, nil
		}}
		var got results
		d, err := notify.NewTestDispatcher(st, sender, &notify.DispatcherOptions{Workers: 2, DisableRateLimit: true, OnDelivery: got.add})
		require.NoError(t, err)
		for i := range 5 {
			require.NoError(t, d.Enqueue("org-1", notify.DriftAlert{Resource: fmt.Sprint(i)}))
		}
		settle(t, func() bool { return len(got.get()) == 5 })
		for _, r := range got.get() {
			assert.Equal(t, "fast", r.ChannelName, "the fast channel got all five while the slow one hung")
		}
		close(release)
		require.NoError(t, d.Close(t.Context()))
		var slowOrder []string
		for _, o := range order {
			if o[:4] == "slow" {
				slowOrder = append(slowOrder, o)
			}
		}
		assert.Equal(t, []string{"slow:0", "slow:1", "slow:2", "slow:3", "slow:4"}, slowOrder, "a destination's jobs keep their order")
	})

	t.Run("a job waiting for its retry holds no worker", func(t *testing.T) {
		wake := make(chan struct{})
		sleep := func(ctx context.Context, d time.Duration) error {
			select {
			case <-wake:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var failed atomic.Bool
		sender := notify.TestSender{Post: func(ctx context.Context, ch notify.Channel, ev notify.Event) (notify.Receipt, error) {
			if ch.Name == "slow" && !failed.Swap(true) {
				return notify.Receipt{}, &notify.DeliveryError{Reason: "down", Code: "http_503"}
			}
			return notify.Receipt{}, nil
		}}
		var got results
		d, err := notify.NewTestDispatcher(st, sender, &notify.DispatcherOptions{Workers: 1, DisableRateLimit: true, OnDelivery: got.add, Sleep: sleep})
		require.NoError(t, err)
		require.NoError(t, d.Enqueue("org-1", notify.DriftAlert{Resource: "x"}))
		settle(t, func() bool { return len(got.get()) == 1 })
		assert.Equal(t, "fast", got.get()[0].ChannelName, "the one worker delivered while the slow channel waited")
		close(wake)
		require.NoError(t, d.Close(t.Context()))
		require.Len(t, got.get(), 2)
		assert.Equal(t, 2, got.get()[1].Attempts)
		assert.True(t, got.get()[1].OK)
	})
}

func TestRateLimits(t *testing.T) {
	f := newFakes(t)
	// sendTimes runs n deliveries to channels and returns the fake time
	// of each send.
	sendTimes := func(t *testing.T, chans []notify.Channel, n int, mod func(*notify.DispatcherOptions)) []time.Duration {
		st := memstore.New()
		for _, ch := range chans {
			seedChannel(t, st, "org-1", ch)
		}
		clock := newFakeClock()
		start := clock.Now()
		var mu sync.Mutex
		var times []time.Duration
		sender := notify.TestSender{Post: func(ctx context.Context, ch notify.Channel, ev notify.Event) (notify.Receipt, error) {
			mu.Lock()
			times = append(times, clock.Now().Sub(start))
			mu.Unlock()
			return notify.Receipt{}, nil
		}}
		o := clock.options(&notify.DispatcherOptions{Workers: 1})
		if mod != nil {
			mod(o)
		}
		d, err := notify.NewTestDispatcher(st, sender, o)
		require.NoError(t, err)
		for range n {
			require.NoError(t, d.Enqueue("org-1", notify.DriftAlert{Resource: "x"}))
			notify.WaitIdle(d)
		}
		require.NoError(t, d.Close(t.Context()))
		return times
	}
	s := time.Second

	t.Run("Slack: 3 at once, then 3 per 3 seconds", func(t *testing.T) {
		got := sendTimes(t, []notify.Channel{f.botChannel()}, 7, nil)
		assert.Equal(t, []time.Duration{0, 0, 0, 3 * s, 3 * s, 3 * s, 6 * s}, got)
	})
	t.Run("Teams: at most 4 per second and 60 per 30 seconds", func(t *testing.T) {
		got := sendTimes(t, []notify.Channel{f.teamsChannel(true)}, 130, nil)
		require.Len(t, got, 130)
		for i := range got {
			n1, n30 := 0, 0
			for _, u := range got[i:] {
				if u-got[i] < time.Second {
					n1++
				}
				if u-got[i] < 30*time.Second {
					n30++
				}
			}
			require.LessOrEqual(t, n1, 4, "window at %v", got[i])
			require.LessOrEqual(t, n30, 60, "window at %v", got[i])
		}
		assert.Equal(t, 14*s, got[59], "the first 60 go at 4 per second")
		assert.Equal(t, 30*s, got[60], "the 61st waits for the 30-second window")
	})
	t.Run("channels naming the same Slack channel share its limit", func(t *testing.T) {
		a, b := f.botChannel(), f.botChannel()
		a.Name, b.Name = "a", "b"
		got := sendTimes(t, []notify.Channel{a, b}, 2, nil)
		assert.Equal(t, []time.Duration{0, 0, 0, 3 * s}, got)
	})
	t.Run("distinct channels do not", func(t *testing.T) {
		a, b := f.botChannel(), f.botChannel()
		a.Name, b.Name = "a", "b"
		b.Config.ChannelID = "C9999999999"
		got := sendTimes(t, []notify.Channel{a, b}, 3, nil)
		assert.Equal(t, []time.Duration{0, 0, 0, 0, 0, 0}, got)
	})
	t.Run("custom rates and turning them off", func(t *testing.T) {
		got := sendTimes(t, []notify.Channel{f.hookChannel()}, 3, func(o *notify.DispatcherOptions) {
			o.SlackRates = []notify.Rate{{N: 1, Per: 10 * s}}
		})
		assert.Equal(t, []time.Duration{0, 10 * s, 20 * s}, got)
		got = sendTimes(t, []notify.Channel{f.hookChannel()}, 5, func(o *notify.DispatcherOptions) { o.DisableRateLimit = true })
		assert.Equal(t, []time.Duration{0, 0, 0, 0, 0}, got)
	})
	t.Run("invalid rates are refused", func(t *testing.T) {
		_, err := notify.NewDispatcher(memstore.New(), f.sender(t, nil), &notify.DispatcherOptions{TeamsRates: []notify.Rate{{N: 0, Per: s}}})
		assert.Error(t, err)
	})
}

func TestPostsAreRecorded(t *testing.T) {
	f := newFakes(t)
	down := notifytest.New()
	t.Cleanup(down.Close)
	down.FailNext(100, notifytest.Fault{Status: 404})
	st := memstore.New()
	bot := seedChannel(t, st, "org-1", f.botChannel())
	hook := seedChannel(t, st, "org-1", f.hookChannel())
	tm := seedChannel(t, st, "org-1", f.teamsChannel(false))
	broken := f.teamsChannel(true)
	broken.Name, broken.Config.WebhookURL = "broken", down.TeamsWorkflowsURL(sigSecret)
	broken = seedChannel(t, st, "org-1", broken)
	var got results
	d, err := notify.NewDispatcher(st, f.sender(t, nil), &notify.DispatcherOptions{Posts: st, DisableRateLimit: true, OnDelivery: got.add})
	require.NoError(t, err)

	require.NoError(t, d.Enqueue("org-1", notify.DriftAlert{Resource: "x"}))
	require.NoError(t, d.Enqueue("org-1", notify.ApprovalRequested{Request: request()}))
	require.NoError(t, d.Close(t.Context()))
	var rs []notify.Result
	for _, r := range got.get() {
		if r.Event == notify.EventApprovalRequest {
			rs = append(rs, r)
		}
	}
	require.Len(t, rs, 4)
	for _, r := range rs {
		assert.Equal(t, r.ChannelID != broken.ID, r.OK, r.ChannelName)
		assert.Equal(t, "apr-1", r.ApprovalID)
	}
	posts, err := st.ListPosts(t.Context(), "org-1", "apr-1")
	require.NoError(t, err)
	byChannel := map[string]notify.Post{}
	for _, p := range posts {
		byChannel[p.ChannelID] = p
		assert.Equal(t, "org-1", p.OrgID)
		assert.Equal(t, "apr-1", p.ApprovalID)
	}
	assert.Len(t, posts, 3, "one post per successful delivery, none for the failure or the drift alert")
	require.Contains(t, byChannel, bot.ID)
	assert.Equal(t, "C0123456789", byChannel[bot.ID].Receipt.SlackChannel)
	assert.NotEmpty(t, byChannel[bot.ID].Receipt.SlackTS)
	assert.Equal(t, notify.Slack, byChannel[bot.ID].ChannelType)
	require.Contains(t, byChannel, hook.ID)
	assert.Empty(t, byChannel[hook.ID].Receipt.SlackTS)
	require.Contains(t, byChannel, tm.ID)
	assert.Equal(t, notify.Teams, byChannel[tm.ID].ChannelType)
	assert.NotContains(t, byChannel, broken.ID)
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
