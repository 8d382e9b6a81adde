package notify_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/slackmsg"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// copiesFixture is a host wired as the docs say: a memstore, a
// dispatcher recording posts, and an approval service whose FollowUp is
// the dispatcher's.
type copiesFixture struct {
	f     *fakes
	st    *memstore.Store
	d     *notify.Dispatcher
	svc   *approval.Service
	now   time.Time
	nowMu sync.Mutex
	chans map[string]notify.Channel
	got   results
}

func newCopiesFixture(t *testing.T) *copiesFixture {
	x := &copiesFixture{f: newFakes(t), st: memstore.New(), now: time.Unix(1700000000, 0).UTC(), chans: map[string]notify.Channel{}}
	for name, ch := range map[string]notify.Channel{
		"bot":       x.f.botChannel(),
		"hook":      x.f.hookChannel(),
		"legacy":    x.f.teamsChannel(false),
		"workflows": x.f.teamsChannel(true),
	} {
		ch.Name = name
		x.chans[name] = seedChannel(t, x.st, "org-1", ch)
	}
	d, err := notify.NewDispatcher(x.st, x.f.sender(t, nil), &notify.DispatcherOptions{
		Posts: x.st, DisableRateLimit: true, OnDelivery: x.got.add, Logger: debugLogger(x.f.log),
	})
	require.NoError(t, err)
	x.d = d
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	x.svc, err = approval.NewService(x.st, x.st, &approval.Options{FollowUp: d.FollowUp, Now: x.clock})
	require.NoError(t, err)
	return x
}

func (x *copiesFixture) clock() time.Time {
	x.nowMu.Lock()
	defer x.nowMu.Unlock()
	return x.now
}

func (x *copiesFixture) advance(d time.Duration) {
	x.nowMu.Lock()
	x.now = x.now.Add(d)
	x.nowMu.Unlock()
}

// post creates a request and delivers it to every channel.
func (x *copiesFixture) post(t *testing.T, expires time.Duration) approval.Request {
	t.Helper()
	r := approval.Request{OrgID: "org-1", Title: "Open port 22 to the world", RiskScore: 91, ConsoleURL: "https://console.example.com/a"}
	if expires > 0 {
		r.ExpiresAt = x.clock().Add(expires)
	}
	r, err := x.svc.Create(t.Context(), r)
	require.NoError(t, err)
	rs := deliver(t, x.d, &x.got, "org-1", notify.ApprovalRequested{Request: r})
	require.Len(t, rs, 4)
	for _, res := range rs {
		require.True(t, res.OK, res.Error)
	}
	x.f.srv.Reset()
	return r
}

// drain waits for the queued updates by closing the dispatcher.
func (x *copiesFixture) drain(t *testing.T) {
	t.Helper()
	require.NoError(t, x.d.Close(t.Context()))
}

// checkCopies asserts that the bot copy was rewritten with want (Slack
// mrkdwn) and both Teams channels got a follow-up saying teamsWant.
func (x *copiesFixture) checkCopies(t *testing.T, r approval.Request, want, teamsWant string) {
	t.Helper()
	posts, err := x.st.ListPosts(t.Context(), "org-1", r.ID)
	require.NoError(t, err)
	var botPost notify.Post
	for _, p := range posts {
		if p.ChannelID == x.chans["bot"].ID {
			botPost = p
		}
	}
	require.NotEmpty(t, botPost.Receipt.SlackTS)

	reqs := x.f.requests("chat.postMessage", "chat.update", "webhook", "response_url")
	require.Len(t, reqs, 1, "one chat.update, nothing to the Slack webhook (its copy cannot be edited)")
	up := reqs[0]
	assert.Equal(t, "chat.update", up.Method)
	assert.Equal(t, botPost.Receipt.SlackChannel, up.Channel)
	assert.Equal(t, botPost.Receipt.SlackTS, up.TS)
	assert.Equal(t, botToken, up.Token)
	assert.Empty(t, up.Buttons, "buttons removed")
	assert.Contains(t, up.AllText, want)
	assert.Equal(t, slackmsg.ResultLine(string(r.Status), r.ReviewedBy), up.Text, "the result line the interaction handler answers with")

	treqs := x.f.requests("teams", "workflows")
	require.Len(t, treqs, 2, "a follow-up to each Teams channel")
	kinds := map[string]bool{}
	for _, tr := range treqs {
		kinds[tr.Method] = true
		assert.Contains(t, tr.AllText, teamsWant)
		assert.Empty(t, tr.Buttons, "follow-ups carry no buttons")
	}
	assert.Len(t, kinds, 2)

	updates := append(x.got.op("update"), x.got.op("follow_up")...)
	require.Len(t, updates, 3)
	for _, res := range updates {
		assert.True(t, res.OK, res.Error)
		assert.Equal(t, r.ID, res.ApprovalID)
		assert.Equal(t, notify.EventApprovalRequest, res.Event)
		if res.ChannelType == notify.Slack {
			assert.Equal(t, "update", res.Op)
		} else {
			assert.Equal(t, "follow_up", res.Op)
		}
	}
}

func TestEveryCopyShowsTheDecision(t *testing.T) {
	for _, c := range []struct {
		src      approval.Source
		decision approval.Decision
		want     string
		teams    string
	}{
		{approval.SourceSlack, approval.Approve, ":white_check_mark: *APPROVED* by amy", "**APPROVED** by amy"},
		{approval.SourceTeams, approval.Deny, ":x: *DENIED* by amy", "**DENIED** by amy"},
		{approval.SourceAPI, approval.Approve, ":white_check_mark: *APPROVED* by amy", "**APPROVED** by amy"},
	} {
		t.Run(string(c.src), func(t *testing.T) {
			x := newCopiesFixture(t)
			r := x.post(t, time.Hour)
			decided, err := x.svc.Review(t.Context(), "org-1", r.ID, c.decision, approval.Reviewer{Name: "amy", ID: "U1"}, c.src)
			require.NoError(t, err)
			x.drain(t)
			x.checkCopies(t, decided, c.want, c.teams)
		})
	}

	t.Run("expiry found by a click", func(t *testing.T) {
		x := newCopiesFixture(t)
		r := x.post(t, time.Minute)
		x.advance(2 * time.Minute)
		expired, err := x.svc.Review(t.Context(), "org-1", r.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceSlack)
		require.ErrorIs(t, err, approval.ErrExpired)
		x.drain(t)
		x.checkCopies(t, expired, ":warning: Approval request has expired", "Approval request has expired")
	})

	t.Run("expiry found by a sweep", func(t *testing.T) {
		x := newCopiesFixture(t)
		r := x.post(t, time.Minute)
		x.advance(2 * time.Minute)
		expired, err := x.svc.Expire(t.Context(), "org-1", r.ID)
		require.NoError(t, err)
		require.Equal(t, approval.StatusExpired, expired.Status)
		x.drain(t)
		x.checkCopies(t, expired, ":warning: Approval request has expired", "Approval request has expired")
	})

	t.Run("a second click changes nothing more", func(t *testing.T) {
		x := newCopiesFixture(t)
		r := x.post(t, 0)
		_, err := x.svc.Review(t.Context(), "org-1", r.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceSlack)
		require.NoError(t, err)
		_, err = x.svc.Review(t.Context(), "org-1", r.ID, approval.Deny, approval.Reviewer{Name: "bob"}, approval.SourceTeams)
		require.ErrorIs(t, err, approval.ErrNotPending)
		x.drain(t)
		assert.Equal(t, 1, x.f.count("chat.update"))
		assert.Len(t, x.f.requests("teams", "workflows"), 2)
	})

	t.Run("deleted channels are skipped, disabled Teams channels get no follow-up", func(t *testing.T) {
		x := newCopiesFixture(t)
		r := x.post(t, 0)
		require.NoError(t, x.st.DeleteChannel(t.Context(), "org-1", x.chans["bot"].ID))
		legacy := x.chans["legacy"]
		legacy.Enabled = false
		_, err := x.st.UpdateChannel(t.Context(), legacy)
		require.NoError(t, err)
		_, err = x.svc.Review(t.Context(), "org-1", r.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceAPI)
		require.NoError(t, err)
		x.drain(t)
		ups := append(x.got.op("update"), x.got.op("follow_up")...)
		require.Len(t, ups, 1)
		assert.Equal(t, "workflows", ups[0].ChannelName)
		assert.Equal(t, 1, x.f.count(""))
	})

	t.Run("pending requests and FollowUps without work queue nothing", func(t *testing.T) {
		x := newCopiesFixture(t)
		x.d.FollowUp(t.Context(), approval.FollowUp{Request: approval.Request{ID: "p", OrgID: "org-1", Status: approval.StatusPending}, Decided: true})
		x.d.FollowUp(t.Context(), approval.FollowUp{Request: approval.Request{ID: "q", OrgID: "org-1", Status: approval.StatusApproved}})
		assert.Equal(t, 0, notify.QueueLen(x.d))
		x.drain(t)
		assert.Empty(t, x.got.get())
	})

	t.Run("without a PostStore a decision updates nothing, and says nothing", func(t *testing.T) {
		f := newFakes(t)
		var got results
		d, err := notify.NewDispatcher(memstore.New(), f.sender(t, nil), &notify.DispatcherOptions{OnDelivery: got.add, Logger: debugLogger(f.log)})
		require.NoError(t, err)
		d.FollowUp(t.Context(), approval.FollowUp{Request: approval.Request{ID: "x", OrgID: "org-1", Status: approval.StatusApproved}, Decided: true})
		require.NoError(t, d.Close(t.Context()))
		assert.Empty(t, got.get())
		assert.Equal(t, 0, f.count(""))
	})
}

// leakyPosts is a PostStore that ignores the organisation, as a buggy
// store could: the dispatcher must still touch only the decided
// request's organisation.
type leakyPosts struct{ *memstore.Store }

func (s leakyPosts) ListPosts(ctx context.Context, orgID, approvalID string) ([]notify.Post, error) {
	var all []notify.Post
	for _, org := range []string{"org-a", "org-b"} {
		ps, err := s.Store.ListPosts(ctx, org, approvalID)
		if err != nil {
			return nil, err
		}
		all = append(all, ps...)
	}
	return all, nil
}

// Approval IDs are unique per organisation only: a FollowUp for one
// organisation's request never touches the copies of another's request
// with the same ID.
func TestFollowUpIsOrgScoped(t *testing.T) {
	for _, c := range []struct {
		name  string
		posts func(*memstore.Store) notify.PostStore
	}{
		{"an org-scoped store", func(st *memstore.Store) notify.PostStore { return st }},
		{"a store that leaks other organisations' posts", func(st *memstore.Store) notify.PostStore { return leakyPosts{st} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakes(t)
			st := memstore.New()
			for _, org := range []string{"org-a", "org-b"} {
				bot := f.botChannel()
				bot.Config.ChannelID = map[string]string{"org-a": "CAAAAAAAAAA", "org-b": "CBBBBBBBBBB"}[org]
				seedChannel(t, st, org, bot)
				tm := f.teamsChannel(true)
				tm.Config.WebhookURL = f.srv.TeamsWorkflowsURL(org)
				seedChannel(t, st, org, tm)
			}
			var got results
			d, err := notify.NewDispatcher(st, f.sender(t, nil), &notify.DispatcherOptions{Posts: c.posts(st), DisableRateLimit: true, OnDelivery: got.add})
			require.NoError(t, err)
			for _, org := range []string{"org-a", "org-b"} {
				r := request()
				r.ID, r.OrgID = "same-id", org
				require.NoError(t, d.Enqueue(org, notify.ApprovalRequested{Request: r}))
			}
			notify.WaitIdle(d)
			f.srv.Reset()

			r := decided()
			r.ID, r.OrgID = "same-id", "org-a"
			d.FollowUp(t.Context(), approval.FollowUp{Request: r, Decided: true})
			require.NoError(t, d.Close(t.Context()))

			ups := f.requests("chat.update", "workflows")
			require.Len(t, ups, 2, "org-a's two copies only")
			assert.Equal(t, "CAAAAAAAAAA", ups[0].Channel+ups[1].Channel)
			for _, u := range ups {
				if u.Method == "workflows" {
					assert.Contains(t, u.Path, "/workflows/org-a/")
				}
			}
			for _, m := range f.srv.Messages() {
				if m.Channel == "CBBBBBBBBBB" {
					assert.Empty(t, m.Edits, "org-b's copy is untouched")
					assert.NotEmpty(t, m.Buttons, "and keeps its buttons")
				}
			}
			for _, res := range append(got.op("update"), got.op("follow_up")...) {
				assert.Equal(t, "org-a", res.OrgID)
			}
		})
	}
}

// The Slack handler's FollowUp after a click: the response_url jobs
// share the queue and the retry policy of every other job.
func TestFollowUpResponseURL(t *testing.T) {
	// setup posts a bot message and returns the response_url of a click
	// on it.
	setup := func(t *testing.T, mod func(*notify.DispatcherOptions)) (*fakes, *notify.Dispatcher, *results, string, *fakeClock) {
		f := newFakes(t)
		clock := newFakeClock()
		got := &results{}
		o := clock.options(&notify.DispatcherOptions{OnDelivery: got.add, Logger: debugLogger(f.log)})
		if mod != nil {
			mod(o)
		}
		s := f.sender(t, nil)
		d, err := notify.NewDispatcher(memstore.New(), s, o)
		require.NoError(t, err)
		notify.SetJitter(d, func() float64 { return 0 })
		t.Cleanup(func() { _ = d.Close(context.Background()) })
		rc, err := s.Send(t.Context(), f.botChannel(), notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		f.srv.Reset()
		return f, d, got, f.srv.ResponseURL(rc.SlackChannel, rc.SlackTS), clock
	}
	clicked := func(f *fakes) notifytest.Message {
		for _, m := range f.srv.Messages() {
			if !m.Ephemeral {
				return m
			}
		}
		return notifytest.Message{}
	}

	t.Run("a decision replaces the clicked message with the result", func(t *testing.T) {
		f, d, got, u, _ := setup(t, nil)
		d.FollowUp(t.Context(), approval.FollowUp{Request: decided(), ResponseURL: u})
		require.NoError(t, d.Close(t.Context()))
		reqs := f.requests("response_url")
		require.Len(t, reqs, 1)
		assert.True(t, reqs[0].ReplaceOriginal)
		assert.Equal(t, ":white_check_mark: *APPROVED* by amy", reqs[0].Text)
		m := clicked(f)
		assert.Equal(t, []string{"response_url"}, m.Edits)
		assert.False(t, hasApproveButton(m))
		rs := got.get()
		require.Len(t, rs, 1)
		assert.Equal(t, notify.Result{OrgID: "org-1", ChannelType: notify.Slack, Event: notify.EventApprovalRequest, ApprovalID: "apr-1", Op: "replace", OK: true, Attempts: 1}, rs[0])
	})
	t.Run("a warning goes to the clicker only, the message stays", func(t *testing.T) {
		f, d, got, u, _ := setup(t, nil)
		d.FollowUp(t.Context(), approval.FollowUp{ResponseURL: u, Warning: "Already approved <@channel>"})
		require.NoError(t, d.Close(t.Context()))
		reqs := f.requests("response_url")
		require.Len(t, reqs, 1)
		assert.False(t, reqs[0].ReplaceOriginal)
		assert.Contains(t, string(reqs[0].Body), `"replace_original":false`)
		assert.Equal(t, "ephemeral", reqs[0].ResponseType)
		assert.Equal(t, ":warning: Already approved &lt;@channel&gt;", reqs[0].Text, "escaped")
		assert.Empty(t, clicked(f).Edits, "the original is untouched")
		require.Len(t, got.get(), 1)
		assert.Equal(t, "ephemeral", got.get()[0].Op)
		assert.True(t, got.get()[0].OK)
	})
	t.Run("a decision and a click: every copy, and the clicked one through its response_url", func(t *testing.T) {
		f, _, _, _, _ := setup(t, nil)
		st := memstore.New()
		seedChannel(t, st, "org-1", f.botChannel())
		var got results
		d, err := notify.NewDispatcher(st, f.sender(t, nil), &notify.DispatcherOptions{Posts: st, OnDelivery: got.add, DisableRateLimit: true})
		require.NoError(t, err)
		rs := deliver(t, d, &got, "org-1", notify.ApprovalRequested{Request: request()})
		require.Len(t, rs, 1)
		u := f.srv.ResponseURL(rs[0].Receipt.SlackChannel, rs[0].Receipt.SlackTS)
		d.FollowUp(t.Context(), approval.FollowUp{Request: decided(), Decided: true})
		d.FollowUp(t.Context(), approval.FollowUp{Request: decided(), ResponseURL: u})
		require.NoError(t, d.Close(t.Context()))
		assert.Len(t, got.op("update"), 1)
		assert.Len(t, got.op("replace"), 1)
	})
	t.Run("429 and 5xx are retried with the one policy", func(t *testing.T) {
		f, d, got, u, clock := setup(t, func(o *notify.DispatcherOptions) { o.BaseBackoff = 2 * time.Second })
		f.srv.FailNext(1, notifytest.Fault{Method: "response_url", Status: 429, RetryAfter: 3 * time.Second})
		f.srv.FailNext(1, notifytest.Fault{Method: "response_url", Status: 503})
		d.FollowUp(t.Context(), approval.FollowUp{Request: decided(), ResponseURL: u})
		require.NoError(t, d.Close(t.Context()))
		require.Len(t, got.get(), 1)
		assert.True(t, got.get()[0].OK)
		assert.Equal(t, 3, got.get()[0].Attempts)
		assert.Equal(t, []time.Duration{3 * time.Second, 2 * time.Second}, clock.Sleeps(), "Retry-After, then the backoff of try 2 (jitter 0: half the step)")
		assert.Len(t, f.requests("response_url"), 3)
	})
	t.Run("an unanswered warning is not sent twice", func(t *testing.T) {
		f, d, got, u, _ := setup(t, func(o *notify.DispatcherOptions) { o.AttemptTimeout = 30 * time.Millisecond })
		f.srv.FailNext(1, notifytest.Fault{Method: "response_url", Delay: time.Minute})
		d.FollowUp(t.Context(), approval.FollowUp{ResponseURL: u, Warning: "Already approved"})
		require.NoError(t, d.Close(t.Context()))
		require.Len(t, got.get(), 1)
		assert.False(t, got.get()[0].OK)
		assert.Equal(t, "timeout", got.get()[0].Code)
		assert.Equal(t, 1, got.get()[0].Attempts)
	})
	t.Run("permanent refusals end at once", func(t *testing.T) {
		f, d, got, u, _ := setup(t, nil)
		f.srv.FailNext(1, notifytest.Fault{Method: "response_url", Status: 404, Error: "expired_url"})
		d.FollowUp(t.Context(), approval.FollowUp{Request: decided(), ResponseURL: u})
		require.NoError(t, d.Close(t.Context()))
		require.Len(t, got.get(), 1)
		assert.Equal(t, "expired_url", got.get()[0].Code)
		assert.Equal(t, 1, got.get()[0].Attempts)
	})
	t.Run("a response_url past its 30 minutes is not used", func(t *testing.T) {
		f := newFakes(t)
		var calls int
		var mu sync.Mutex
		start := time.Unix(1700000000, 0)
		now := func() time.Time { // the job runs 31 minutes after the click
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				return start
			}
			return start.Add(31 * time.Minute)
		}
		var got results
		d, err := notify.NewDispatcher(memstore.New(), f.sender(t, nil), &notify.DispatcherOptions{OnDelivery: got.add, Now: now})
		require.NoError(t, err)
		d.FollowUp(t.Context(), approval.FollowUp{Request: decided(), ResponseURL: f.srv.ResponseURL("C0123456789", "1.1")})
		require.NoError(t, d.Close(t.Context()))
		require.Len(t, got.get(), 1)
		assert.Equal(t, "expired_url", got.get()[0].Code)
		assert.Equal(t, 0, f.count(""))
	})
	t.Run("response_urls never reach a result or a log line", func(t *testing.T) {
		f, d, got, u, _ := setup(t, nil)
		secret := strings.TrimPrefix(u, baseURL(f.srv))
		f.srv.FailNext(1, notifytest.Fault{Method: "response_url", Status: 400, Error: "invalid_blocks"})
		d.FollowUp(t.Context(), approval.FollowUp{Request: decided(), ResponseURL: u})
		d.FollowUp(t.Context(), approval.FollowUp{Request: decided(), ResponseURL: "https://evil.example" + secret})
		require.NoError(t, d.Close(t.Context()))
		require.Len(t, got.get(), 2)
		for _, r := range got.get() {
			assert.False(t, r.OK)
			assertSecretFree(t, fmt.Sprintf("%+v %s %v", r, mustMarshal(t, r), r.Err), secret)
		}
		assertSecretFree(t, f.log.String(), secret)
	})
}
