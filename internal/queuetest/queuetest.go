// Package queuetest holds the durable-queue tests shared by store/sqlite
// and store/postgres: a real database, a real River client, the Dispatcher,
// and notifytest's fake Slack and Teams.
package queuetest

import (
	"context"
	"database/sql"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/jobq"
	"github.com/chatnotify/chatnotify/internal/sqlstore"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// Backend opens stores on one fresh database per test.
type Backend struct {
	// New returns a fresh database's location.
	New func(t *testing.T) string
	// Open opens a store on loc (with a fast retry policy); each call is a
	// pool of its own. Closed by the caller.
	Open func(t *testing.T, loc string) *sqlstore.Store
	// Raw opens a plain connection pool on loc, closed at the test's end.
	Raw func(t *testing.T, loc string) *sql.DB
	// Jobs is River's job table ("river_job" or "schema.river_job"), and
	// Q rewrites ? placeholders for the dialect.
	Jobs string
	Q    func(string) string
}

// results collects a Dispatcher's results.
type results struct {
	mu  sync.Mutex
	all []notify.Result
	ch  chan notify.Result
}

func newResults() *results { return &results{ch: make(chan notify.Result, 1000)} }

func (r *results) add(res notify.Result) {
	r.mu.Lock()
	r.all = append(r.all, res)
	r.mu.Unlock()
	r.ch <- res
}

// wait returns the next n results, failing after timeout.
func (r *results) wait(t *testing.T, n int, timeout time.Duration) []notify.Result {
	t.Helper()
	var out []notify.Result
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case res := <-r.ch:
			out = append(out, res)
		case <-deadline:
			t.Fatalf("got %d of %d results in %s: %+v", len(out), n, timeout, out)
		}
	}
	return out
}

type rig struct {
	store *sqlstore.Store
	fake  *notifytest.Server
	d     *notify.Dispatcher
	svc   *approval.Service
	res   *results
}

func newRig(t *testing.T, b Backend, loc string, fake *notifytest.Server, opts *notify.DispatcherOptions) *rig {
	t.Helper()
	st := b.Open(t, loc)
	sender, err := notify.NewSender(&notify.SenderOptions{SlackAPIURL: fake.SlackAPIURL(), AllowLoopbackURLs: true})
	require.NoError(t, err)
	res := newResults()
	o := notify.DispatcherOptions{}
	if opts != nil {
		o = *opts
	}
	o.OnDelivery = res.add
	o.Durable = true
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

func (r *rig) slackChannel(t *testing.T, name, slackID string) notify.Channel {
	t.Helper()
	ch, err := r.store.CreateChannel(t.Context(), notify.Channel{OrgID: "acme", Type: notify.Slack, Name: name, Enabled: true,
		Config: notify.ChannelConfig{BotToken: "xoxb-test", ChannelID: slackID}})
	require.NoError(t, err)
	return ch
}

func (r *rig) create(t *testing.T, title string) approval.Request {
	t.Helper()
	req, err := r.svc.Create(t.Context(), approval.Request{OrgID: "acme", Title: title, RiskScore: 50})
	require.NoError(t, err)
	return req
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), q, args...).Scan(&n))
	return n
}

func posts(fake *notifytest.Server, method string, answer int) []notifytest.Request {
	var out []notifytest.Request
	for _, r := range fake.Requests() {
		if r.Method == method && (answer == 0 || r.Answer == answer) {
			out = append(out, r)
		}
	}
	return out
}

// Run runs the shared tests.
func Run(t *testing.T, b Backend) {
	t.Run("HandOffInTx", func(t *testing.T) { testHandOff(t, b) })
	t.Run("ServerErrorThenOK", func(t *testing.T) { testServerErrorThenOK(t, b) })
	t.Run("RetryAfterSnoozes", func(t *testing.T) { testRetryAfter(t, b) })
	t.Run("PermanentCancels", func(t *testing.T) { testPermanent(t, b) })
	t.Run("HangDelaysOnlyItself", func(t *testing.T) { testHang(t, b) })
	t.Run("DecisionUpdatesCopies", func(t *testing.T) { testDecision(t, b) })
}

// A request and its fan-out job commit together; a rolled-back
// transaction leaves neither.
func testHandOff(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newRig(t, b, loc, fake, nil)
	raw := b.Raw(t, loc)
	ctx := t.Context()

	req := r.create(t, "kept")
	_, err := r.store.CreateApproval(ctx, approval.Request{ID: req.ID, OrgID: "acme", Title: "dup"})
	require.ErrorIs(t, err, approval.ErrConflict)
	assert.Equal(t, 1, count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.fan_out'`),
		"the conflicting create's transaction left no job")
	// The host's Enqueue after Create is a no-op (unique job).
	require.NoError(t, r.d.Enqueue("acme", notify.ApprovalRequested{Request: req}))
	assert.Equal(t, 1, count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.fan_out'`))

	// Our row and a job in one transaction: rollback loses both.
	tx, err := raw.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, b.Q(`INSERT INTO chatnotify_approvals (id, org_id, title, description, agent, action, risk_score,
		requested_by, console_url, status, created_at, reviewed_by, reviewer_id, review_source, review_notes)
		VALUES ('rolled', 'acme', 't', '', '', '', 0, '', '', 'pending', ?, '', '', '', '')`), time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"))
	require.NoError(t, err)
	require.NoError(t, r.store.DeliveryQueue().Push(ctx, tx, jobq.ApprovalFanOut("acme", "rolled")))
	require.NoError(t, tx.Rollback())
	assert.Equal(t, 0, count(t, raw, b.Q(`SELECT count(*) FROM chatnotify_approvals WHERE id = ?`), "rolled"))
	assert.Equal(t, 1, count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.fan_out'`))
}

func testServerErrorThenOK(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newRig(t, b, loc, fake, nil)
	r.slackChannel(t, "sec", "C1")
	fake.FailNext(1, notifytest.Fault{Status: 503})
	req := r.create(t, "5xx then 200")
	got := r.res.wait(t, 1, 20*time.Second)
	require.True(t, got[0].OK, "%+v", got[0])
	assert.Equal(t, 2, got[0].Attempts)
	assert.Len(t, posts(fake, "chat.postMessage", 200), 1, "delivered once")
	cps, err := r.store.ListPosts(t.Context(), "acme", req.ID)
	require.NoError(t, err)
	assert.Len(t, cps, 1, "one copy recorded")
}

func testRetryAfter(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newRig(t, b, loc, fake, nil)
	r.slackChannel(t, "sec", "C1")
	fake.FailNext(2, notifytest.RateLimited(time.Second))
	start := time.Now()
	r.create(t, "429 twice")
	got := r.res.wait(t, 1, 20*time.Second)
	require.True(t, got[0].OK, "%+v", got[0])
	assert.Equal(t, 1, got[0].Attempts, "snoozes spend no attempt")
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "Retry-After honoured")
	raw := b.Raw(t, loc)
	assert.Equal(t, 0, count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.post' AND (attempt <> 1 OR state <> 'completed')`),
		"the post job completed on its first attempt")
}

func testPermanent(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newRig(t, b, loc, fake, nil)
	r.slackChannel(t, "sec", "C1")
	fake.FailNext(1, notifytest.PlatformError("channel_not_found"))
	r.create(t, "gone")
	got := r.res.wait(t, 1, 20*time.Second)
	require.False(t, got[0].OK)
	assert.Equal(t, "channel_not_found", got[0].Code)
	assert.Equal(t, 1, got[0].Attempts)
	assert.Len(t, fake.Requests(), 1)
	raw := b.Raw(t, loc)
	// River records the cancellation just after the worker returns.
	assert.Eventually(t, func() bool {
		return count(t, raw, `SELECT count(*) FROM `+b.Jobs+` WHERE kind = 'chatnotify.post' AND state = 'cancelled'`) == 1
	}, 5*time.Second, 20*time.Millisecond)
}

// A hanging Teams Workflows destination does not delay a Slack channel.
func testHang(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	// A hanging attempt ends after AttemptTimeout. The Slack posts must
	// all arrive before any hanging attempt could have ended: they did not
	// wait behind it (ordering against the configured timeout, not a
	// measure of the machine's speed).
	const attemptTimeout = 10 * time.Second
	r := newRig(t, b, loc, fake, &notify.DispatcherOptions{AttemptTimeout: attemptTimeout})
	_, err := r.store.CreateChannel(t.Context(), notify.Channel{OrgID: "acme", Type: notify.Teams, Name: "hangs", Enabled: true,
		Config: notify.ChannelConfig{WebhookURL: fake.TeamsWorkflowsURL("hang")}})
	require.NoError(t, err)
	r.slackChannel(t, "fast", "C2")
	fake.FailNext(100, notifytest.Fault{Method: "workflows", Delay: time.Hour})
	start := time.Now()
	for i := range 3 {
		r.create(t, "req "+string(rune('a'+i)))
	}
	got := r.res.wait(t, 3, 2*attemptTimeout)
	elapsed := time.Since(start)
	for _, g := range got {
		assert.True(t, g.OK && g.ChannelType == notify.Slack, "%+v", g)
	}
	// Every hanging attempt began after start, so one the Slack posts
	// waited behind would have held them until start+attemptTimeout at
	// least.
	var lastSlack time.Time
	for _, q := range fake.Requests() {
		if q.Method == "chat.postMessage" && q.Received.After(lastSlack) {
			lastSlack = q.Received
		}
	}
	assert.True(t, lastSlack.Before(start.Add(attemptTimeout)),
		"the last Slack post arrived %s after the requests: it waited for the hanging attempt", lastSlack.Sub(start))
	t.Logf("3 Slack posts delivered %s after the requests while the Teams destination hangs", elapsed.Round(time.Millisecond))
}

// A decision updates the copy once.
func testDecision(t *testing.T, b Backend) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r := newRig(t, b, loc, fake, nil)
	r.slackChannel(t, "sec", "C1")
	req := r.create(t, "decide me")
	require.True(t, r.res.wait(t, 1, 10*time.Second)[0].OK)
	_, err := r.svc.Review(t.Context(), "acme", req.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceAPI)
	require.NoError(t, err)
	got := r.res.wait(t, 1, 10*time.Second)
	assert.True(t, got[0].OK && got[0].Op == "update", "%+v", got[0])
	time.Sleep(300 * time.Millisecond)
	assert.Len(t, posts(fake, "chat.update", 200), 1)
}

// RunRate posts 30 requests to one channel from two stores (two pools,
// two River clients) on one database, and returns the combined rate
// measured at the fake (messages per second, (n-1)/span) and the smallest
// gap.
func RunRate(t *testing.T, b Backend, n int) (rate float64, minGap time.Duration) {
	fake := notifytest.New()
	defer fake.Close()
	loc := b.New(t)
	r1 := newRig(t, b, loc, fake, nil)
	r2 := newRig(t, b, loc, fake, nil)
	r1.slackChannel(t, "busy", "CBUSY")
	for i := range n {
		rr := r1
		if i%2 == 1 {
			rr = r2
		}
		rr.create(t, "burst")
	}
	deadline := time.Now().Add(time.Duration(n)*1200*time.Millisecond + 20*time.Second)
	for len(posts(fake, "chat.postMessage", 200)) < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	got := posts(fake, "chat.postMessage", 200)
	require.Len(t, got, n)
	var at []time.Time
	for _, g := range got {
		at = append(at, g.Received)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	minGap = time.Hour
	for i := 1; i < len(at); i++ {
		minGap = min(minGap, at[i].Sub(at[i-1]))
	}
	span := at[len(at)-1].Sub(at[0])
	return float64(n-1) / span.Seconds(), minGap
}
