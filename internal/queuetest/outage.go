package queuetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// The outage tests: the Dispatcher on a real store and River delivers to
// notifytest's fake Slack and Teams through a gate, an HTTP proxy the
// test switches per destination between forwarding, a status (5xx, 429
// with Retry-After) and a hang (no answer until the client gives up, or
// a 503 when the test lifts the hang). The gate records every request
// with its destination, the request title it carries, when it came and
// how it was answered, so the tests count attempts and check Retry-After
// from the platform's side.
//
// Each outage is real time (60 s of 5xx is 60 s); only the queue's retry
// backoff is shortened, through the store's options (see RunOutages).

// OutageRetry is the retry backoff the stores give the queue in the outage
// tests (Backend.Open): the first retry after OutageRetryBase, doubling up
// to OutageRetryCap, so a job retries every few seconds during an outage
// instead of the default 5 s doubling to 15 min.
const (
	OutageRetryBase = 250 * time.Millisecond
	OutageRetryCap  = 4 * time.Second
)

// RunOutages runs the outage tests on b, whose Open should give the queue
// the OutageRetry backoff. They run in parallel and take about 80 s (the
// outages are real time); they are skipped with -short.
func RunOutages(t *testing.T, b Backend) {
	if testing.Short() {
		t.Skip("the outages last 20 to 60 s each")
	}
	t.Run("ServerErrors60s", func(t *testing.T) { t.Parallel(); testServerOutage(t, b) })
	t.Run("RateLimitStorm", func(t *testing.T) { t.Parallel(); testRateLimitStorm(t, b) })
	t.Run("HangingDestination", func(t *testing.T) { t.Parallel(); testHangingDestination(t, b) })
}

// titleRE finds the outage tests' request titles in a request body (Slack
// form bodies and Teams JSON carry them as they are).
var titleRE = regexp.MustCompile(`\b(?:outage|storm|hang|fast)-\d{3}\b`)

// gateMode is how the gate answers a destination.
type gateMode struct {
	status     int           // 0: forward to the fake
	retryAfter time.Duration // sent with status, in whole seconds (rounded up)
	hang       bool          // hold the request until the mode changes (then 503)
	lift       chan struct{} // closed when the mode is replaced
}

// hit is one request the gate received.
type hit struct {
	Dest, Title string
	Start, End  time.Time
	// Status is what the gate (or the fake, when Forwarded) answered; 0
	// when the client gave up first.
	Status     int
	RetryAfter time.Duration
	Forwarded  bool
}

func (h hit) ok() bool { return h.Forwarded && h.Status >= 200 && h.Status < 300 }

// gate is the switchable proxy in front of the fake.
type gate struct {
	srv   *httptest.Server
	proxy *httputil.ReverseProxy
	fake  string // the fake's base URL

	mu       sync.Mutex
	modes    map[string]*gateMode // by destination; "" for the others
	hits     []hit
	inflight map[string]int
	peak     map[string]int
}

func newGate(t *testing.T, fake *notifytest.Server) *gate {
	base := strings.TrimSuffix(fake.SlackAPIURL(), "/api/")
	u, err := url.Parse(base)
	require.NoError(t, err)
	g := &gate{proxy: httputil.NewSingleHostReverseProxy(u), fake: base,
		modes: map[string]*gateMode{}, inflight: map[string]int{}, peak: map[string]int{}}
	g.proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	g.srv = httptest.NewServer(g)
	t.Cleanup(func() {
		g.open()
		g.srv.CloseClientConnections()
		g.srv.Close()
	})
	return g
}

// open makes the gate forward everything again, waking what hangs.
func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for d := range g.modes {
		g.setLocked(d, gateMode{})
	}
}

// slackAPIURL is the Slack Web API base URL through the gate.
func (g *gate) slackAPIURL() string { return g.srv.URL + "/api/" }

// via returns the fake's URL u as reached through the gate.
func (g *gate) via(u string) string { return g.srv.URL + strings.TrimPrefix(u, g.fake) }

// set makes the gate answer dest ("" for every destination without a
// mode of its own) with m from now on; requests hanging under the
// previous mode are answered 503.
func (g *gate) set(dest string, m gateMode) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setLocked(dest, m)
}

func (g *gate) setLocked(dest string, m gateMode) {
	if old := g.modes[dest]; old != nil {
		close(old.lift)
	}
	m.lift = make(chan struct{})
	g.modes[dest] = &m
}

func (g *gate) mode(dest string) *gateMode {
	if m := g.modes[dest]; m != nil {
		return m
	}
	if m := g.modes[""]; m != nil {
		return m
	}
	return &gateMode{}
}

// destOf names a request's destination as the rate limit does: a Slack
// channel ("slack:C1") for the Web API, the URL path for a webhook.
func destOf(path string, body []byte) string {
	if strings.HasPrefix(path, "/api/") {
		f, _ := url.ParseQuery(string(body))
		return "slack:" + f.Get("channel")
	}
	return path
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	h := hit{Dest: destOf(r.URL.Path, body), Title: titleRE.FindString(string(body)), Start: time.Now()}
	g.mu.Lock()
	g.inflight[h.Dest]++
	g.peak[h.Dest] = max(g.peak[h.Dest], g.inflight[h.Dest])
	m := g.mode(h.Dest)
	g.mu.Unlock()
	defer func() {
		h.End = time.Now()
		g.mu.Lock()
		g.inflight[h.Dest]--
		g.hits = append(g.hits, h)
		g.mu.Unlock()
	}()
	if m.hang {
		select {
		case <-m.lift:
			// The hang is over: what it held is answered 503 (the
			// destination dropped it), so that no held request is
			// forwarded just as its client gives up, a duplicate no
			// client could avoid; tries after the lift get the new mode.
			m = &gateMode{status: http.StatusServiceUnavailable}
		case <-r.Context().Done():
			return // the client gave up: Status 0
		}
	}
	if m.status != 0 {
		h.Status, h.RetryAfter = m.status, m.retryAfter
		if m.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64((m.retryAfter+time.Second-1)/time.Second), 10))
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(m.status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", m.status, http.StatusText(m.status))
		return
	}
	if r.Context().Err() != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	sw := &statusWriter{ResponseWriter: w}
	g.proxy.ServeHTTP(sw, r)
	h.Status, h.Forwarded = sw.status, true
}

// Hits returns the requests received so far.
func (g *gate) Hits() []hit {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.hits)
}

// Peak returns the most requests to dest the gate held at once.
func (g *gate) Peak(dest string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak[dest]
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// outageRig is a Dispatcher (durable, default options) on a store of b,
// sending through the gate.
type outageRig struct {
	*rig
	gate *gate
	// created: request title → when Create returned, and its ID.
	mu      sync.Mutex
	created map[string]time.Time
	titles  map[string]string // approval ID → title
}

func newOutageRig(t *testing.T, b Backend) *outageRig {
	t.Helper()
	fake := notifytest.New()
	t.Cleanup(fake.Close)
	g := newGate(t, fake)
	st := b.Open(t, b.New(t))
	sender, err := notify.NewSender(&notify.SenderOptions{SlackAPIURL: g.slackAPIURL(), AllowLoopbackURLs: true})
	require.NoError(t, err)
	res := newResults()
	// Durable, with the store's deliveries log, as the example server has
	// it; every other option at its default.
	d, err := notify.NewDispatcher(st, sender, &notify.DispatcherOptions{Durable: true, OnDelivery: res.add, Deliveries: st.Deliveries()})
	require.NoError(t, err)
	svc, err := approval.NewService(st, st, &approval.Options{FollowUp: d.FollowUp})
	require.NoError(t, err)
	t.Cleanup(func() {
		g.open()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = d.Close(ctx)
		_ = st.Close()
	})
	return &outageRig{rig: &rig{store: st, fake: fake, d: d, svc: svc, res: res}, gate: g,
		created: map[string]time.Time{}, titles: map[string]string{}}
}

// results waits for n results, then a second more, and fails if any
// other result came (a delivery reported twice).
func (r *outageRig) results(t *testing.T, n int, timeout time.Duration) []notify.Result {
	t.Helper()
	got := r.res.wait(t, n, timeout)
	time.Sleep(time.Second)
	select {
	case extra := <-r.res.ch:
		t.Fatalf("a result beyond the %d expected: %+v", n, extra)
	default:
	}
	return got
}

// slack adds a Slack channel (bot token) of org posting to slackID and
// returns its gate destination.
func (r *outageRig) slack(t *testing.T, org, slackID string) string {
	t.Helper()
	_, err := r.store.CreateChannel(t.Context(), notify.Channel{OrgID: org, Type: notify.Slack, Name: slackID, Enabled: true,
		Config: notify.ChannelConfig{BotToken: "xoxb-test", ChannelID: slackID}})
	require.NoError(t, err)
	return "slack:" + slackID
}

// teams adds a Teams channel of org (a Workflows URL, or an incoming
// webhook) through the gate and returns its gate destination.
func (r *outageRig) teams(t *testing.T, org, name string, workflows bool) string {
	t.Helper()
	u := r.fake.TeamsWebhookURL(name)
	if workflows {
		u = r.fake.TeamsWorkflowsURL(name)
	}
	u = r.gate.via(u)
	_, err := r.store.CreateChannel(t.Context(), notify.Channel{OrgID: org, Type: notify.Teams, Name: name, Enabled: true,
		Config: notify.ChannelConfig{WebhookURL: u}})
	require.NoError(t, err)
	p, err := url.Parse(u)
	require.NoError(t, err)
	return p.Path
}

// create raises a request of org titled title and notes when it was
// accepted.
func (r *outageRig) create(t *testing.T, org, title string) {
	t.Helper()
	req, err := r.svc.Create(t.Context(), approval.Request{OrgID: org, Title: title, RiskScore: 50})
	require.NoError(t, err)
	r.mu.Lock()
	r.created[title] = time.Now()
	r.titles[req.ID] = title
	r.mu.Unlock()
}

// delivery is one (request, destination) pair, with what the gate and the
// Dispatcher say about it.
type delivery struct {
	title, dest string
	hits        []hit // in order
	result      notify.Result
}

// deliveries joins the results and the gate's hits per (title,
// destination). dests maps channel IDs to gate destinations.
func (r *outageRig) deliveries(t *testing.T, results []notify.Result, dests map[string]string) map[[2]string]*delivery {
	t.Helper()
	out := map[[2]string]*delivery{}
	for _, h := range r.gate.Hits() {
		k := [2]string{h.Title, h.Dest}
		if out[k] == nil {
			out[k] = &delivery{title: h.Title, dest: h.Dest}
		}
		out[k].hits = append(out[k].hits, h)
	}
	for _, res := range results {
		r.mu.Lock()
		title := r.titles[res.ApprovalID]
		r.mu.Unlock()
		dest := dests[res.ChannelID]
		require.NotEmpty(t, title, "a result for an unknown request: %+v", res)
		require.NotEmpty(t, dest, "a result for an unknown channel: %+v", res)
		k := [2]string{title, dest}
		if out[k] == nil {
			out[k] = &delivery{title: title, dest: dest}
		}
		require.Empty(t, out[k].result.Op, "two results for %s to %s", title, dest)
		out[k].result = res
	}
	for _, d := range out {
		sort.Slice(d.hits, func(i, j int) bool { return d.hits[i].Start.Before(d.hits[j].Start) })
	}
	return out
}

// channelDests maps the channel IDs of org to their gate destinations.
func (r *outageRig) channelDests(t *testing.T, orgs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, org := range orgs {
		chs, err := r.store.ListChannels(t.Context(), org)
		require.NoError(t, err)
		for _, ch := range chs {
			if ch.Type == notify.Slack {
				out[ch.ID] = "slack:" + ch.Config.ChannelID
				continue
			}
			p, err := url.Parse(ch.Config.WebhookURL)
			require.NoError(t, err)
			out[ch.ID] = p.Path
		}
	}
	return out
}

// checkDelivered requires each of titles to have reached each of dests
// exactly once, with the Result's Attempts equal to the tries the
// platform saw, less those it answered 429 (a snooze is not an attempt),
// and no other request of titles to have reached dests.
func checkDelivered(t *testing.T, got map[[2]string]*delivery, titles, dests []string) {
	t.Helper()
	for _, title := range titles {
		for _, dest := range dests {
			d := got[[2]string{title, dest}]
			if !assert.NotNil(t, d, "%s never reached %s", title, dest) {
				continue
			}
			n := 0
			for _, h := range d.hits {
				if h.ok() {
					n++
				}
			}
			assert.Equal(t, 1, n, "%s reached %s %d times; its requests: %s", title, dest, n, fmtHits(d.hits))
			assert.True(t, d.result.OK, "%s to %s: %+v", title, dest, d.result)
			assert.Equal(t, d.tries(), d.result.Attempts, "%s to %s: the Result's attempts against the tries the platform saw (less its 429s)", title, dest)
		}
	}
	for k := range got {
		if slices.Contains(dests, k[1]) && !slices.Contains(titles, k[0]) {
			t.Errorf("unexpected requests: %q to %s", k[0], k[1])
		}
	}
}

func fmtHits(hs []hit) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "\n\t%s → %s: %d forwarded=%v", h.Start.Format("15:04:05.000"), h.End.Format("15:04:05.000"), h.Status, h.Forwarded)
	}
	return b.String()
}

// tries counts d's attempts as the platform saw them: every request but
// those answered 429.
func (d *delivery) tries() int {
	n := 0
	for _, h := range d.hits {
		if h.Status != http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

// delivered is when d reached its destination (the answer's time).
func (d *delivery) delivered() (time.Time, bool) {
	for _, h := range d.hits {
		if h.ok() {
			return h.End, true
		}
	}
	return time.Time{}, false
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1)*p + 0.5)
	return s[i]
}

func fmtLat(ds []time.Duration) string {
	return fmt.Sprintf("n=%d p50=%s max=%s", len(ds), percentile(ds, 0.5).Round(time.Millisecond), percentile(ds, 1).Round(time.Millisecond))
}

// testServerOutage: every destination answers 503 for 60 s, while
// requests keep coming; then the platform recovers. Every request reaches
// every channel exactly once, each Result counts the tries the platform
// saw, and a failing destination never has two tries in flight.
func testServerOutage(t *testing.T, b Backend) {
	const (
		outage   = 60 * time.Second
		requests = 10
		spacing  = 2 * time.Second // requests arrive during the first 20 s
	)
	r := newOutageRig(t, b)
	dests := []string{r.slack(t, "acme", "C-OUT1"), r.slack(t, "acme", "C-OUT2"), r.teams(t, "acme", "out-teams", false)}
	chDests := r.channelDests(t, "acme")
	r.gate.set("", gateMode{status: http.StatusServiceUnavailable})
	start := time.Now()
	var titles []string
	for i := range requests {
		title := fmt.Sprintf("outage-%03d", i)
		titles = append(titles, title)
		r.create(t, "acme", title)
		time.Sleep(spacing)
	}
	time.Sleep(time.Until(start.Add(outage)))
	recovered := time.Now()
	r.gate.set("", gateMode{})
	results := r.results(t, requests*len(dests), 90*time.Second)
	got := r.deliveries(t, results, chDests)
	checkDelivered(t, got, titles, dests)

	var attempts []int
	var last time.Time
	failed := 0
	for _, d := range got {
		attempts = append(attempts, d.result.Attempts)
		for _, h := range d.hits {
			if h.ok() {
				last = maxTime(last, h.End)
			} else {
				failed++
			}
		}
	}
	slices.Sort(attempts)
	for _, dest := range dests {
		t.Logf("%s: tries during the outage %.2f/s, most at once %d", dest, float64(countHits(r.gate.Hits(), dest, recovered))/outage.Seconds(), r.gate.Peak(dest))
		assert.LessOrEqual(t, r.gate.Peak(dest), 1, "%s: tries in flight at once to a failing destination", dest)
	}
	t.Logf("60 s of 503: %d deliveries (%d requests × %d channels) all delivered once, %d failed tries; attempts per delivery min %d, median %d, max %d; last delivered %s after recovery",
		len(got), requests, len(dests), failed, attempts[0], attempts[len(attempts)/2], attempts[len(attempts)-1], last.Sub(recovered).Round(time.Millisecond))
}

func countHits(hs []hit, dest string, before time.Time) int {
	n := 0
	for _, h := range hs {
		if h.Dest == dest && h.Start.Before(before) {
			n++
		}
	}
	return n
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// testRateLimitStorm: every destination answers 429 with Retry-After: 2
// for 20 s. Every request is delivered once, on its first attempt (a
// snooze spends none); after each 429 the job that got it waits at least
// the Retry-After before its next try, and so does every other job of
// the same destination (no try reaches a destination inside the window a
// 429 asked for).
func testRateLimitStorm(t *testing.T, b Backend) {
	const (
		storm      = 20 * time.Second
		retryAfter = 2 * time.Second
		requests   = 10
	)
	r := newOutageRig(t, b)
	dests := []string{r.slack(t, "acme", "C-STORM1"), r.slack(t, "acme", "C-STORM2"), r.teams(t, "acme", "storm-teams", false)}
	chDests := r.channelDests(t, "acme")
	r.gate.set("", gateMode{status: http.StatusTooManyRequests, retryAfter: retryAfter})
	start := time.Now()
	var titles []string
	for i := range requests {
		title := fmt.Sprintf("storm-%03d", i)
		titles = append(titles, title)
		r.create(t, "acme", title)
	}
	time.Sleep(time.Until(start.Add(storm)))
	recovered := time.Now()
	r.gate.set("", gateMode{})
	results := r.results(t, requests*len(dests), 90*time.Second)
	got := r.deliveries(t, results, chDests)
	checkDelivered(t, got, titles, dests)

	// Per job: after a 429, the next try waits at least Retry-After (the
	// gate's End is before the client read the answer, so this is a lower
	// bound on the wait the job kept).
	limited, early := 0, 0
	var shortest time.Duration = time.Hour
	for _, d := range got {
		assert.Equal(t, 1, d.result.Attempts, "%s to %s: a 429 spends no attempt", d.title, d.dest)
		for i := 1; i < len(d.hits); i++ {
			prev := d.hits[i-1]
			if prev.Status != http.StatusTooManyRequests {
				continue
			}
			limited++
			gap := d.hits[i].Start.Sub(prev.End)
			shortest = min(shortest, gap)
			if gap < retryAfter {
				early++
			}
		}
	}
	assert.Zero(t, early, "tries made before their Retry-After had passed")
	// Per destination (the platform's view): tries that came while an
	// earlier 429 to the same destination still asked it to wait.
	destEarly := map[string]int{}
	hs := r.gate.Hits()
	sort.Slice(hs, func(i, j int) bool { return hs[i].Start.Before(hs[j].Start) })
	for i, n := range hs {
		if !n.Start.Before(recovered) {
			break
		}
		for _, h := range hs[:i] {
			if h.Dest == n.Dest && h.Status == http.StatusTooManyRequests && n.Start.After(h.End) && n.Start.Before(h.End.Add(h.RetryAfter)) {
				destEarly[n.Dest]++
				break
			}
		}
	}
	for _, dest := range dests {
		t.Logf("%s: %d tries during the storm (%.2f/s), of which %d inside another 429's Retry-After window; most at once %d",
			dest, countHits(hs, dest, recovered), float64(countHits(hs, dest, recovered))/storm.Seconds(), destEarly[dest], r.gate.Peak(dest))
		assert.Zero(t, destEarly[dest], "%s: tries while a 429 to the same destination still asked to wait", dest)
	}
	var last time.Time
	for _, d := range got {
		at, _ := d.delivered()
		last = maxTime(last, at)
	}
	t.Logf("20 s of 429 (Retry-After: 2): %d deliveries all delivered once on attempt 1; %d 429s, shortest wait after one %s (≥ %s required); last delivered %s after recovery",
		len(got), limited, shortest.Round(time.Millisecond), retryAfter, last.Sub(recovered).Round(time.Millisecond))
}

// testHangingDestination: two organisations' Teams Workflows URLs hang
// (no answer until the test lifts it; each try ends at the Dispatcher's
// AttemptTimeout, 20 s) with 60 requests each, more than River's 100
// workers together, while a third organisation's Slack channel keeps
// getting requests. Each hanging destination holds at most one worker
// (one try in flight at a time), so the healthy channel's deliveries are
// not slowed (the one timed bound: its slowest delivery stays under a few
// seconds while the others hang); once the hang is lifted, everything
// arrives.
func testHangingDestination(t *testing.T, b Backend) {
	const (
		hang     = 45 * time.Second
		burst    = 60                      // requests per hanging destination, at once
		pace     = 1200 * time.Millisecond // the healthy org's requests, within Slack's 1/s per channel
		healthyN = 30                      // over 36 s, all while the others hang
		bound    = 5 * time.Second
	)
	r := newOutageRig(t, b)
	hung := []string{r.teams(t, "hangs-1", "hang-workflows-1", true), r.teams(t, "hangs-2", "hang-workflows-2", true)}
	fast := r.slack(t, "healthy", "C-FAST")
	chDests := r.channelDests(t, "hangs-1", "hangs-2", "healthy")
	for _, h := range hung {
		r.gate.set(h, gateMode{hang: true})
	}
	start := time.Now()
	hangTitles := make([][]string, len(hung))
	var fastTitles []string
	for i := range burst {
		for k := range hung {
			title := fmt.Sprintf("hang-%03d", k*burst+i)
			hangTitles[k] = append(hangTitles[k], title)
			r.create(t, fmt.Sprintf("hangs-%d", k+1), title)
		}
	}
	for i := range healthyN {
		title := fmt.Sprintf("fast-%03d", i)
		fastTitles = append(fastTitles, title)
		r.create(t, "healthy", title)
		time.Sleep(pace)
	}
	time.Sleep(time.Until(start.Add(hang)))
	lifted := time.Now()
	for _, h := range hung {
		r.gate.set(h, gateMode{})
	}
	results := r.results(t, len(hung)*burst+healthyN, 150*time.Second)
	got := r.deliveries(t, results, chDests)
	for k, h := range hung {
		checkDelivered(t, got, hangTitles[k], []string{h})
	}
	checkDelivered(t, got, fastTitles, []string{fast})

	lat := func(titles []string, dest string, from func(string) time.Time) []time.Duration {
		var out []time.Duration
		for _, title := range titles {
			if d := got[[2]string{title, dest}]; d != nil {
				if at, ok := d.delivered(); ok {
					out = append(out, at.Sub(from(title)))
				}
			}
		}
		return out
	}
	createdAt := func(title string) time.Time {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.created[title]
	}
	fastLat := lat(fastTitles, fast, createdAt)
	t.Logf("healthy Slack channel while two other orgs' Workflows URLs hang: latency (create → platform's answer) %s", fmtLat(fastLat))
	for k, h := range hung {
		tries := 0
		for _, title := range hangTitles[k] {
			if d := got[[2]string{title, h}]; d != nil {
				tries += len(d.hits)
			}
		}
		t.Logf("hanging Workflows URL %d (%s hang, %d requests): latency (create → platform's answer) %s; lift → answer %s; %d tries, most held at once %d",
			k+1, hang, burst, fmtLat(lat(hangTitles[k], h, createdAt)), fmtLat(lat(hangTitles[k], h, func(string) time.Time { return lifted })), tries, r.gate.Peak(h))
		assert.LessOrEqual(t, r.gate.Peak(h), 1, "tries in flight at once to hanging destination %d: a failing destination holds at most one worker", k+1)
	}
	assert.Less(t, percentile(fastLat, 1), bound, "the healthy channel's slowest delivery while the other destinations hang")
}
