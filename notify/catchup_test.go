package notify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
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

// deadline bounds every wait of these tests. It is a safety net that
// turns a hang into a failure, never a timing assertion: each wait ends
// as soon as its condition holds.
const deadline = 30 * time.Second

// recv returns the next value from ch, failing the test if none comes
// before the deadline.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(deadline):
		require.FailNow(t, "gave up waiting for "+what)
	}
	panic("unreachable")
}

// holdingProxy forwards requests to a fake and, until released, holds
// back its answers to the requests hold picks: the fake has received the
// message, but the sender is still waiting for the platform's answer.
type holdingProxy struct {
	srv     *httptest.Server
	held    chan string // the path of each request whose answer is held
	release chan struct{}
	once    sync.Once
}

func newHoldingProxy(t *testing.T, upstream string, hold func(*http.Request) bool) *holdingProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	require.NoError(t, err)
	h := &holdingProxy{held: make(chan string, 16), release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !hold(resp.Request) {
			return nil
		}
		select {
		case <-h.release:
			return nil
		default:
		}
		h.held <- resp.Request.URL.Path
		select {
		case <-h.release:
			return nil
		case <-resp.Request.Context().Done():
			return resp.Request.Context().Err()
		}
	}
	h.srv = httptest.NewServer(rp)
	t.Cleanup(h.srv.Close)
	t.Cleanup(h.Release) // runs first: no handler stays blocked
	return h
}

// Release lets every held answer, and all later ones, through.
func (h *holdingProxy) Release() { h.once.Do(func() { close(h.release) }) }

// latch is a gate that, once opened, stays open.
type latch struct {
	ch   chan struct{}
	once sync.Once
}

func newLatch() *latch { return &latch{ch: make(chan struct{})} }

// Open lets every waiter through, now and later. A nil latch is open.
func (l *latch) Open() {
	if l != nil {
		l.once.Do(func() { close(l.ch) })
	}
}

// Wait returns once the latch is open.
func (l *latch) Wait() {
	if l != nil {
		<-l.ch
	}
}

// gatedPosts is a PostStore that reports its calls and can hold them:
// each RecordPost, once the post is stored, waits for recordGo before
// returning; each ListPosts waits for listGo before listing. Nil latches
// hold nothing.
type gatedPosts struct {
	notify.PostStore
	recorded chan notify.Post   // each post, once stored
	listing  chan struct{}      // each ListPosts call, before listing
	listed   chan []notify.Post // what each ListPosts call returned
	recordGo *latch
	listGo   *latch
}

func newGatedPosts(st notify.PostStore) *gatedPosts {
	return &gatedPosts{PostStore: st, recorded: make(chan notify.Post, 16), listing: make(chan struct{}, 16), listed: make(chan []notify.Post, 16)}
}

func (g *gatedPosts) RecordPost(ctx context.Context, p notify.Post) error {
	err := g.PostStore.RecordPost(ctx, p)
	g.recorded <- p
	g.recordGo.Wait()
	return err
}

func (g *gatedPosts) ListPosts(ctx context.Context, approvalID string) ([]notify.Post, error) {
	g.listing <- struct{}{}
	g.listGo.Wait()
	ps, err := g.PostStore.ListPosts(ctx, approvalID)
	g.listed <- ps
	return ps, err
}

// inflightFixture is a host wired as the docs say, with Approvals set,
// whose Slack API and Teams webhooks may sit behind holding proxies.
type inflightFixture struct {
	f     *fakes
	st    *memstore.Store
	posts *gatedPosts
	d     *notify.Dispatcher
	svc   *approval.Service
	got   results
	chans map[string]notify.Channel
}

type inflightOptions struct {
	slackAPIURL string                   // defaults to the fake's
	teamsURL    func(name string) string // defaults to the fake's legacy URL
	workflows   bool                     // also a Workflows channel
	posts       func(*gatedPosts)
}

func newInflightFixture(t *testing.T, f *fakes, o inflightOptions) *inflightFixture {
	t.Helper()
	x := &inflightFixture{f: f, st: memstore.New(), chans: map[string]notify.Channel{}}
	x.posts = newGatedPosts(x.st)
	if o.posts != nil {
		o.posts(x.posts)
	}
	legacy := f.teamsChannel(false)
	if o.teamsURL != nil {
		legacy.Config.WebhookURL = o.teamsURL(hookSecret)
	}
	chans := map[string]notify.Channel{"bot": f.botChannel(), "hook": f.hookChannel(), "legacy": legacy}
	if o.workflows {
		chans["workflows"] = f.teamsChannel(true)
	}
	for name, ch := range chans {
		ch.Name = name
		x.chans[name] = seedChannel(t, x.st, "org-1", ch)
	}
	sender := f.sender(t, func(so *notify.SenderOptions) {
		if o.slackAPIURL != "" {
			so.SlackAPIURL = o.slackAPIURL
		}
	})
	d, err := notify.NewDispatcher(x.st, sender, &notify.DispatcherOptions{
		Posts: x.posts, Approvals: x.st, DisableRateLimit: true, OnDelivery: x.got.add, Logger: debugLogger(f.log),
	})
	require.NoError(t, err)
	x.d = d
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	t.Cleanup(func() { x.posts.recordGo.Open(); x.posts.listGo.Open() }) // runs first, after a failure too
	x.svc, err = approval.NewService(x.st, x.st, &approval.Options{OnDecided: d.Decided})
	require.NoError(t, err)
	return x
}

func (x *inflightFixture) create(t *testing.T) approval.Request {
	t.Helper()
	r, err := x.svc.Create(t.Context(), approval.Request{OrgID: "org-1", Title: "Open port 22 to the world", RiskScore: 91})
	require.NoError(t, err)
	return r
}

func (x *inflightFixture) review(t *testing.T, r approval.Request) approval.Request {
	t.Helper()
	decided, err := x.svc.Review(t.Context(), r.ID, approval.Approve, approval.Reviewer{Name: "amy", ID: "U1"}, approval.SourceAPI)
	require.NoError(t, err)
	require.Equal(t, approval.StatusApproved, decided.Status)
	return decided
}

// dispatch delivers r's notification in the background; the returned
// channel is closed when Dispatch returns.
func (x *inflightFixture) dispatch(t *testing.T, r approval.Request) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		rs, err := x.d.Dispatch(context.Background(), "org-1", notify.ApprovalRequested{Request: r})
		assert.NoError(t, err)
		for _, res := range rs {
			assert.True(t, res.OK, "%s: %s", res.ChannelName, res.Error)
		}
	}()
	return done
}

// updates returns the OnDelivery results of copies brought up to date.
func (x *inflightFixture) updates() []notify.Result {
	var out []notify.Result
	for _, res := range x.got.get() {
		if res.Event == notify.EventApprovalDecided {
			out = append(out, res)
		}
	}
	return out
}

// slackMessage returns the message in the fake Slack channel named by
// where (a channel ID, or a webhook path prefix).
func (x *inflightFixture) slackMessage(t *testing.T, where string) notifytest.SlackMessage {
	t.Helper()
	var found []notifytest.SlackMessage
	for _, m := range x.f.slack.Messages() {
		if strings.HasPrefix(m.Channel, where) {
			found = append(found, m)
		}
	}
	require.Len(t, found, 1, "one message in %s", where)
	return found[0]
}

func hasApproveButton(t *testing.T, m notifytest.SlackMessage) bool {
	t.Helper()
	b, err := json.Marshal(m.Blocks)
	require.NoError(t, err)
	return strings.Contains(string(b), approval.SlackApproveAction)
}

// teamsCards returns the cards each Teams channel received, by path.
func (x *inflightFixture) teamsCards() map[string][]notifytest.TeamsRequest {
	out := map[string][]notifytest.TeamsRequest{}
	for _, r := range x.f.teams.Requests() {
		out[r.Path] = append(out[r.Path], r)
	}
	return out
}

// checkOneUpdateEach asserts that the bot message shows the decision
// without buttons after exactly one chat.update, that the webhook
// message is as posted, that each Teams channel got its card and then
// exactly one follow-up saying teamsWant, and that OnDelivery saw one
// successful update per updatable copy.
func (x *inflightFixture) checkOneUpdateEach(t *testing.T, teamsChannels int) {
	t.Helper()
	bot := x.slackMessage(t, "C0123456789")
	assert.Equal(t, []string{"chat.update"}, bot.Edits, "the bot copy is rewritten once")
	assert.False(t, hasApproveButton(t, bot), "buttons removed")
	assert.Contains(t, bot.Text, "APPROVED")
	assert.Contains(t, bot.Text, "amy")

	hook := x.slackMessage(t, "/services/")
	assert.Empty(t, hook.Edits, "a webhook copy cannot be edited")
	assert.Equal(t, 1, x.f.slack.Count("webhook"), "nothing went to the webhook but the request")

	cards := x.teamsCards()
	require.Len(t, cards, teamsChannels)
	for _, got := range cards {
		require.Equal(t, 2, len(got), "workflows=%v: the card, then one follow-up", got[0].Workflows)
		assert.Contains(t, got[0].AllText(), "Approval requested")
		assert.Contains(t, got[1].AllText(), "Approved by amy via API")
		assert.Empty(t, got[1].Actions(), "a follow-up has no buttons")
	}

	ups := x.updates()
	require.Len(t, ups, 1+teamsChannels)
	for _, res := range ups {
		assert.True(t, res.OK, res.Error)
		want := "follow_up"
		if res.ChannelType == notify.Slack {
			want = "update"
		}
		assert.Equal(t, want, res.Op, res.ChannelName)
	}
}

// TestDecidedWhileInFlight reproduces a request decided through the API
// while the answers to its Slack chat.postMessage and Teams card are
// held back: the Decided job finds no copy to update, because none is
// recorded yet, so the dispatcher must bring each copy up to date once
// it records it.
func TestDecidedWhileInFlight(t *testing.T) {
	for _, c := range []struct {
		name    string
		deliver func(t *testing.T, x *inflightFixture, r approval.Request) (wait func())
	}{
		{"Dispatch", func(t *testing.T, x *inflightFixture, r approval.Request) func() {
			done := x.dispatch(t, r)
			return func() { recv(t, done, "Dispatch to return") }
		}},
		{"Enqueue", func(t *testing.T, x *inflightFixture, r approval.Request) func() {
			require.NoError(t, x.d.Enqueue("org-1", notify.ApprovalRequested{Request: r}))
			return func() {}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakes(t)
			slackProxy := newHoldingProxy(t, f.slack.URL(), func(r *http.Request) bool {
				return strings.HasSuffix(r.URL.Path, "/chat.postMessage")
			})
			teamsProxy := newHoldingProxy(t, f.teams.URL(), func(*http.Request) bool { return true })
			x := newInflightFixture(t, f, inflightOptions{
				slackAPIURL: slackProxy.srv.URL + "/api/",
				teamsURL: func(name string) string {
					return strings.Replace(f.teams.LegacyURL(name), f.teams.URL(), teamsProxy.srv.URL, 1)
				},
			})
			r := x.create(t)
			wait := c.deliver(t, x, r)

			// Both platforms have the message; their answers are held.
			recv(t, slackProxy.held, "the held chat.postMessage")
			recv(t, teamsProxy.held, "the held Teams card")
			// The webhook copy, not held, is recorded.
			recv(t, x.posts.recorded, "the webhook copy's record")

			x.review(t, r)
			// The Decided job lists the copies recorded so far: only the
			// webhook's, which cannot be edited.
			listed := recv(t, x.posts.listed, "the Decided job to list the copies")
			require.Len(t, listed, 1)
			assert.Equal(t, x.chans["hook"].ID, listed[0].ChannelID)

			slackProxy.Release()
			teamsProxy.Release()
			wait()
			require.NoError(t, x.d.Close(t.Context()))

			x.checkOneUpdateEach(t, 1)
		})
	}
}

// TestDecidedBetweenRecordAndReread covers the decision landing after a
// copy is recorded but before the dispatcher reads the request again:
// both the Decided job and the dispatcher's own check see the decided
// request and the recorded copy, and still each copy is updated once (a
// second Teams follow-up card could not be taken back).
func TestDecidedBetweenRecordAndReread(t *testing.T) {
	t.Run("the Decided job updates the copies first", func(t *testing.T) {
		f := newFakes(t)
		x := newInflightFixture(t, f, inflightOptions{workflows: true, posts: func(g *gatedPosts) {
			g.recordGo = newLatch()
		}})
		r := x.create(t)
		done := x.dispatch(t, r)
		for range 4 {
			recv(t, x.posts.recorded, "the four copies' records")
		}

		x.review(t, r)
		require.Len(t, recv(t, x.posts.listed, "the Decided job to list the copies"), 4)
		require.Eventually(t, func() bool { return len(x.updates()) == 3 }, deadline, time.Millisecond,
			"the Decided job updates the bot copy and both Teams channels")

		x.posts.recordGo.Open() // the dispatcher now re-reads the request
		recv(t, done, "Dispatch to return")
		require.NoError(t, x.d.Close(t.Context()))

		x.checkOneUpdateEach(t, 2)
	})

	t.Run("the dispatcher updates the copies first", func(t *testing.T) {
		f := newFakes(t)
		x := newInflightFixture(t, f, inflightOptions{workflows: true, posts: func(g *gatedPosts) {
			g.recordGo = newLatch()
			g.listGo = newLatch()
		}})
		r := x.create(t)
		done := x.dispatch(t, r)
		for range 4 {
			recv(t, x.posts.recorded, "the four copies' records")
		}

		x.review(t, r)
		recv(t, x.posts.listing, "the Decided job to start listing the copies")
		x.posts.recordGo.Open() // the dispatcher re-reads and updates
		recv(t, done, "Dispatch to return")
		require.Len(t, x.updates(), 3, "the dispatcher updated the bot copy and both Teams channels")

		x.posts.listGo.Open() // the Decided job finds the same four copies
		require.Len(t, recv(t, x.posts.listed, "the Decided job's list"), 4)
		require.NoError(t, x.d.Close(t.Context()))

		x.checkOneUpdateEach(t, 2)
	})

	t.Run("a failed update by the dispatcher is made again by the Decided job", func(t *testing.T) {
		f := newFakes(t)
		x := newInflightFixture(t, f, inflightOptions{posts: func(g *gatedPosts) {
			g.recordGo = newLatch()
			g.listGo = newLatch()
		}})
		r := x.create(t)
		done := x.dispatch(t, r)
		for range 3 {
			recv(t, x.posts.recorded, "the three copies' records")
		}

		x.review(t, r)
		recv(t, x.posts.listing, "the Decided job to start listing the copies")
		f.teams.FailNext(1, notifytest.PlatformError("Bad payload received by generic incoming webhook."))
		x.posts.recordGo.Open()
		recv(t, done, "Dispatch to return")
		var failed []notify.Result
		for _, res := range x.updates() {
			if !res.OK {
				failed = append(failed, res)
			}
		}
		require.Len(t, failed, 1, "the follow-up card failed, for good (a 400)")
		assert.Equal(t, "follow_up", failed[0].Op)

		x.posts.listGo.Open()
		require.NoError(t, x.d.Close(t.Context()))
		cards := f.teams.Requests()
		require.Equal(t, 3, len(cards), "the card, the failed follow-up, the follow-up")
		assert.Equal(t, 400, cards[1].Answer)
		assert.Equal(t, 200, cards[2].Answer)
		assert.Contains(t, cards[2].AllText(), "Approved by amy via API")
		bot := x.slackMessage(t, "C0123456789")
		assert.Equal(t, []string{"chat.update"}, bot.Edits, "the bot copy, updated by the dispatcher, is not updated again")
	})

	t.Run("a request still pending is left to the Decided job", func(t *testing.T) {
		f := newFakes(t)
		x := newInflightFixture(t, f, inflightOptions{})
		r := x.create(t)
		recv(t, x.dispatch(t, r), "Dispatch to return")
		assert.Empty(t, x.updates(), "nothing to update while pending")
		assert.Equal(t, 0, f.slack.Count("chat.update"))

		x.review(t, r)
		require.NoError(t, x.d.Close(t.Context()))
		x.checkOneUpdateEach(t, 1)
	})
}
