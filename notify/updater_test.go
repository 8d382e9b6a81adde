package notify_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// copiesFixture is a host wired as the docs say: a memstore, a
// dispatcher recording posts, and an approval service whose OnDecided is
// the dispatcher's Decided.
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
	x.svc, err = approval.NewService(x.st, x.st, &approval.Options{OnDecided: d.Decided, Now: x.clock})
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
	rs, err := x.d.Dispatch(t.Context(), "org-1", notify.ApprovalRequested{Request: r})
	require.NoError(t, err)
	require.Len(t, rs, 4)
	for _, res := range rs {
		require.True(t, res.OK, res.Error)
	}
	x.f.slack.Reset()
	x.f.teams.Reset()
	return r
}

// drain waits for the background updates by closing the dispatcher.
func (x *copiesFixture) drain(t *testing.T) {
	t.Helper()
	require.NoError(t, x.d.Close(t.Context()))
}

// checkCopies asserts that the bot copy was rewritten with want (Slack
// mrkdwn) and both Teams channels got a follow-up saying teamsWant.
func (x *copiesFixture) checkCopies(t *testing.T, r approval.Request, want, teamsWant string) {
	t.Helper()
	posts, err := x.st.ListPosts(t.Context(), r.ID)
	require.NoError(t, err)
	var botPost notify.Post
	for _, p := range posts {
		if p.ChannelID == x.chans["bot"].ID {
			botPost = p
		}
	}
	require.NotEmpty(t, botPost.Receipt.SlackTS)

	reqs := x.f.slack.Requests()
	require.Len(t, reqs, 1, "one chat.update, nothing to the Slack webhook (its copy cannot be edited)")
	up := reqs[0]
	assert.Equal(t, "chat.update", up.Method)
	assert.Equal(t, botPost.Receipt.SlackChannel, up.Channel)
	assert.Equal(t, botPost.Receipt.SlackTS, up.TS)
	assert.Equal(t, botToken, up.Token)
	assert.Empty(t, up.Buttons(), "buttons removed")
	assert.Contains(t, up.AllText(), want)
	text, _ := approval.SlackResultMessage(r)
	assert.Equal(t, text, up.Text, "same rendering as approval's handler")

	treqs := x.f.teams.Requests()
	require.Len(t, treqs, 2, "a follow-up to each Teams channel")
	kinds := map[bool]bool{}
	for _, tr := range treqs {
		kinds[tr.Workflows] = true
		assert.Contains(t, tr.AllText(), teamsWant)
		assert.Empty(t, tr.Actions(), "follow-ups carry no buttons")
	}
	assert.Len(t, kinds, 2)

	var updates []notify.Result
	for _, res := range x.got.get() {
		if res.Event == notify.EventApprovalDecided {
			updates = append(updates, res)
		}
	}
	require.Len(t, updates, 3)
	for _, res := range updates {
		assert.True(t, res.OK, res.Error)
		assert.Equal(t, r.ID, res.ApprovalID)
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
		{approval.SourceAPI, approval.Approve, ":white_check_mark: *APPROVED* by amy", "Approved by amy via API"},
	} {
		t.Run(string(c.src), func(t *testing.T) {
			x := newCopiesFixture(t)
			r := x.post(t, time.Hour)
			decided, err := x.svc.Review(t.Context(), r.ID, c.decision, approval.Reviewer{Name: "amy", ID: "U1"}, c.src)
			require.NoError(t, err)
			x.drain(t)
			x.checkCopies(t, decided, c.want, c.teams)
		})
	}

	t.Run("expiry found by a click", func(t *testing.T) {
		x := newCopiesFixture(t)
		r := x.post(t, time.Minute)
		x.advance(2 * time.Minute)
		expired, err := x.svc.Review(t.Context(), r.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceSlack)
		require.ErrorIs(t, err, approval.ErrExpired)
		x.drain(t)
		x.checkCopies(t, expired, ":warning: Approval request has expired", "Approval request has expired")
	})

	t.Run("expiry found by a sweep", func(t *testing.T) {
		x := newCopiesFixture(t)
		r := x.post(t, time.Minute)
		x.advance(2 * time.Minute)
		expired, err := x.svc.Expire(t.Context(), r.ID)
		require.NoError(t, err)
		require.Equal(t, approval.StatusExpired, expired.Status)
		x.drain(t)
		x.checkCopies(t, expired, ":warning: Approval request has expired", "Approval request has expired")
	})

	t.Run("a second click changes nothing more", func(t *testing.T) {
		x := newCopiesFixture(t)
		r := x.post(t, 0)
		_, err := x.svc.Review(t.Context(), r.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceSlack)
		require.NoError(t, err)
		_, err = x.svc.Review(t.Context(), r.ID, approval.Deny, approval.Reviewer{Name: "bob"}, approval.SourceTeams)
		require.ErrorIs(t, err, approval.ErrAlreadyApproved)
		x.drain(t)
		assert.Equal(t, 1, x.f.slack.Count("chat.update"))
		assert.Equal(t, 2, x.f.teams.Count())
	})

	t.Run("deleted channels are skipped, disabled Teams channels get no follow-up", func(t *testing.T) {
		x := newCopiesFixture(t)
		r := x.post(t, 0)
		require.NoError(t, x.st.DeleteChannel(t.Context(), "org-1", x.chans["bot"].ID))
		legacy := x.chans["legacy"]
		legacy.Enabled = false
		_, err := x.st.UpdateChannel(t.Context(), legacy)
		require.NoError(t, err)
		decided, err := x.svc.Review(t.Context(), r.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceAPI)
		require.NoError(t, err)
		rs, err := x.d.UpdatePosts(t.Context(), decided)
		require.NoError(t, err)
		require.Len(t, rs, 1)
		assert.Equal(t, "workflows", rs[0].ChannelName)
	})

	t.Run("Decided ignores pending requests and logs what it cannot queue", func(t *testing.T) {
		x := newCopiesFixture(t)
		x.d.Decided(t.Context(), approval.Request{ID: "p", OrgID: "org-1", Status: approval.StatusPending})
		assert.Equal(t, 0, x.d.QueueLen())
		x.drain(t)
		x.d.Decided(t.Context(), approval.Request{ID: "q", OrgID: "org-1", Status: approval.StatusApproved})
		assert.Contains(t, x.f.log.String(), "could not queue the update")
		assert.True(t, strings.Contains(x.f.log.String(), `"approval_id":"q"`))
	})

	t.Run("without a PostStore there is nothing to update", func(t *testing.T) {
		d, err := notify.NewDispatcher(memstore.New(), notify.SenderFunc(nil), nil)
		require.NoError(t, err)
		_, err = d.UpdatePosts(t.Context(), approval.Request{ID: "x", Status: approval.StatusApproved})
		assert.Error(t, err)
	})
}
