package notify_test

import (
	"context"
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

// baseURL is the fake's base URL.
func baseURL(srv *notifytest.Server) string { return strings.TrimSuffix(srv.SlackAPIURL(), "/api/") }

// holdingProxy forwards requests to the fake and, until released, holds
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

func (g *gatedPosts) ListPosts(ctx context.Context, orgID, approvalID string) ([]notify.Post, error) {
	g.listing <- struct{}{}
	g.listGo.Wait()
	ps, err := g.PostStore.ListPosts(ctx, orgID, approvalID)
	g.listed <- ps
	return ps, err
}

// inflightFixture is a host wired as the docs say, with Approvals set,
// whose fake Slack and Teams may sit behind a holding proxy.
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
	base      string // the fake's base URL, or a proxy's
	workflows bool   // also a Workflows channel
	posts     func(*gatedPosts)
}

func newInflightFixture(t *testing.T, f *fakes, o inflightOptions) *inflightFixture {
	t.Helper()
	x := &inflightFixture{f: f, st: memstore.New(), chans: map[string]notify.Channel{}}
	x.posts = newGatedPosts(x.st)
	if o.posts != nil {
		o.posts(x.posts)
	}
	via := func(u string) string {
		if o.base == "" {
			return u
		}
		return strings.Replace(u, baseURL(f.srv), o.base, 1)
	}
	legacy := f.teamsChannel(false)
	legacy.Config.WebhookURL = via(legacy.Config.WebhookURL)
	chans := map[string]notify.Channel{"bot": f.botChannel(), "hook": f.hookChannel(), "legacy": legacy}
	if o.workflows {
		chans["workflows"] = f.teamsChannel(true)
	}
	for name, ch := range chans {
		ch.Name = name
		x.chans[name] = seedChannel(t, x.st, "org-1", ch)
	}
	sender := f.sender(t, func(so *notify.SenderOptions) { so.SlackAPIURL = via(so.SlackAPIURL) })
	d, err := notify.NewDispatcher(x.st, sender, &notify.DispatcherOptions{
		Posts: x.posts, Approvals: x.st, DisableRateLimit: true, OnDelivery: x.got.add, Logger: debugLogger(f.log),
	})
	require.NoError(t, err)
	x.d = d
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	t.Cleanup(func() { x.posts.recordGo.Open(); x.posts.listGo.Open() }) // runs first, after a failure too
	x.svc, err = approval.NewService(x.st, x.st, &approval.Options{FollowUp: d.FollowUp})
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
	decided, err := x.svc.Review(t.Context(), "org-1", r.ID, approval.Approve, approval.Reviewer{Name: "amy", ID: "U1"}, approval.SourceAPI)
	require.NoError(t, err)
	require.Equal(t, approval.StatusApproved, decided.Status)
	return decided
}

// updates returns the OnDelivery results of copies brought up to date.
func (x *inflightFixture) updates() []notify.Result {
	return append(x.got.op("update"), x.got.op("follow_up")...)
}

// slackMessage returns the message in the fake Slack channel named by
// where (a channel ID, or a webhook path prefix).
func slackMessage(t *testing.T, srv *notifytest.Server, where string) notifytest.Message {
	t.Helper()
	var found []notifytest.Message
	for _, m := range srv.Messages() {
		if strings.HasPrefix(m.Channel, where) {
			found = append(found, m)
		}
	}
	require.Len(t, found, 1, "one message in %s", where)
	return found[0]
}

func hasApproveButton(m notifytest.Message) bool {
	for _, b := range m.Buttons {
		if b.ActionID == "approve_action" {
			return true
		}
	}
	return false
}

// teamsCards returns the cards each Teams channel received, by path.
func (x *inflightFixture) teamsCards() map[string][]notifytest.Request {
	out := map[string][]notifytest.Request{}
	for _, r := range x.f.requests("teams", "workflows") {
		out[r.Path] = append(out[r.Path], r)
	}
	return out
}

// checkOneUpdateEach asserts that the bot message shows the decision
// without buttons after exactly one chat.update, that the webhook
// message is as posted, that each Teams channel got its card and then
// exactly one follow-up, and that OnDelivery saw one successful update
// per updatable copy.
func (x *inflightFixture) checkOneUpdateEach(t *testing.T, teamsChannels int) {
	t.Helper()
	bot := slackMessage(t, x.f.srv, "C0123456789")
	assert.Equal(t, []string{"chat.update"}, bot.Edits, "the bot copy is rewritten once")
	assert.False(t, hasApproveButton(bot), "buttons removed")
	assert.Contains(t, bot.Text, "APPROVED")
	assert.Contains(t, bot.Text, "amy")

	hook := slackMessage(t, x.f.srv, "/services/")
	assert.Empty(t, hook.Edits, "a webhook copy cannot be edited")
	assert.Equal(t, 1, x.f.count("webhook"), "nothing went to the webhook but the request")

	cards := x.teamsCards()
	require.Len(t, cards, teamsChannels)
	for _, got := range cards {
		require.Equal(t, 2, len(got), "%s: the card, then one follow-up", got[0].Method)
		assert.Contains(t, got[0].AllText, "Approval requested")
		assert.Contains(t, got[1].AllText, "amy")
		assert.Empty(t, got[1].Buttons, "a follow-up has no buttons")
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
		assert.Equal(t, notify.EventApprovalRequest, res.Event)
	}
}

// TestDecidedWhileInFlight reproduces a request decided through the API
// while the answers to its Slack chat.postMessage and Teams card are
// held back: the decision's job finds no copy to update, because none
// is recorded yet, so the dispatcher must bring each copy up to date
// once it records it.
func TestDecidedWhileInFlight(t *testing.T) {
	f := newFakes(t)
	proxy := newHoldingProxy(t, baseURL(f.srv), func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, "/chat.postMessage") || strings.HasPrefix(r.URL.Path, "/webhookb2/")
	})
	x := newInflightFixture(t, f, inflightOptions{base: proxy.srv.URL})
	r := x.create(t)
	require.NoError(t, x.d.Enqueue("org-1", notify.ApprovalRequested{Request: r}))

	// Both platforms have the message; their answers are held.
	recv(t, proxy.held, "the first held answer")
	recv(t, proxy.held, "the second held answer")
	// The webhook copy, not held, is recorded.
	recv(t, x.posts.recorded, "the webhook copy's record")

	x.review(t, r)
	// The decision's job lists the copies recorded so far: only the
	// webhook's, which cannot be edited.
	listed := recv(t, x.posts.listed, "the decision's job to list the copies")
	require.Len(t, listed, 1)
	assert.Equal(t, x.chans["hook"].ID, listed[0].ChannelID)

	proxy.Release()
	require.NoError(t, x.d.Close(t.Context()))
	x.checkOneUpdateEach(t, 1)
}

// TestDecidedBetweenRecordAndReread covers the decision landing after a
// copy is recorded but before the dispatcher reads the request again:
// both the decision's job and the dispatcher's own check see the decided
// request and the recorded copy, and still each copy is updated once (a
// second Teams follow-up card could not be taken back).
func TestDecidedBetweenRecordAndReread(t *testing.T) {
	t.Run("the decision's job takes the copies over", func(t *testing.T) {
		f := newFakes(t)
		x := newInflightFixture(t, f, inflightOptions{workflows: true, posts: func(g *gatedPosts) {
			g.recordGo = newLatch()
		}})
		r := x.create(t)
		require.NoError(t, x.d.Enqueue("org-1", notify.ApprovalRequested{Request: r}))
		for range 4 {
			recv(t, x.posts.recorded, "the four copies' records")
		}

		x.review(t, r)
		require.Len(t, recv(t, x.posts.listed, "the decision's job to list the copies"), 4)

		x.posts.recordGo.Open() // the dispatcher now re-reads the request, and leaves the copies to the decision's jobs
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
		require.NoError(t, x.d.Enqueue("org-1", notify.ApprovalRequested{Request: r}))
		for range 4 {
			recv(t, x.posts.recorded, "the four copies' records")
		}

		x.review(t, r)
		recv(t, x.posts.listing, "the decision's job to start listing the copies")
		x.posts.recordGo.Open() // the dispatcher re-reads and updates
		settle(t, func() bool { return len(x.updates()) == 3 })

		x.posts.listGo.Open() // the decision's job finds the same four copies
		require.Len(t, recv(t, x.posts.listed, "the decision's job's list"), 4)
		require.NoError(t, x.d.Close(t.Context()))
		x.checkOneUpdateEach(t, 2)
	})

	t.Run("a failed update by the dispatcher is made again by the decision's job", func(t *testing.T) {
		f := newFakes(t)
		x := newInflightFixture(t, f, inflightOptions{posts: func(g *gatedPosts) {
			g.recordGo = newLatch()
			g.listGo = newLatch()
		}})
		r := x.create(t)
		require.NoError(t, x.d.Enqueue("org-1", notify.ApprovalRequested{Request: r}))
		for range 3 {
			recv(t, x.posts.recorded, "the three copies' records")
		}

		x.review(t, r)
		recv(t, x.posts.listing, "the decision's job to start listing the copies")
		f.srv.FailNext(1, notifytest.Fault{Method: "teams", Error: "Bad payload received by generic incoming webhook."})
		x.posts.recordGo.Open()
		settle(t, func() bool { return len(x.updates()) == 2 })
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
		cards := f.requests("teams")
		require.Equal(t, 3, len(cards), "the card, the failed follow-up, the follow-up")
		assert.Equal(t, 400, cards[1].Answer)
		assert.Equal(t, 200, cards[2].Answer)
		assert.Contains(t, cards[2].AllText, "amy")
		bot := slackMessage(t, f.srv, "C0123456789")
		assert.Equal(t, []string{"chat.update"}, bot.Edits, "the bot copy, updated by the dispatcher, is not updated again")
	})

	t.Run("a request still pending is left to the decision's job", func(t *testing.T) {
		f := newFakes(t)
		x := newInflightFixture(t, f, inflightOptions{})
		r := x.create(t)
		require.NoError(t, x.d.Enqueue("org-1", notify.ApprovalRequested{Request: r}))
		notify.WaitIdle(x.d)
		assert.Empty(t, x.updates(), "nothing to update while pending")
		assert.Equal(t, 0, f.count("chat.update"))

		x.review(t, r)
		require.NoError(t, x.d.Close(t.Context()))
		x.checkOneUpdateEach(t, 1)
	})
}
