package queuetest

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// The lease tests: two Dispatchers (two pools, two River clients, as two
// replicas) on one database deliver through the outage tests' gate, which
// counts the requests each destination holds at once. A destination's
// lease (internal/riverqueue, "One send at a time per destination") must
// keep that count at one across both, space a destination's sends by its
// interval after the previous one, and keep a hanging destination to one
// worker without slowing the others.

// leaseRig is n Dispatchers on one database of b, sending through one
// gate, their results merged.
type leaseRig struct {
	gate   *gate
	fake   *notifytest.Server
	loc    string
	stores []*rig
	res    *results
	per    []atomic.Int64 // results per replica

	mu      sync.Mutex
	created map[string]time.Time // title → when Create returned
	titles  map[string]string    // approval ID → title
}

func newLeaseRig(t *testing.T, b Backend, n int, opts notify.DispatcherOptions) *leaseRig {
	t.Helper()
	fake := notifytest.New()
	t.Cleanup(fake.Close)
	g := newGate(t, fake)
	lr := &leaseRig{gate: g, fake: fake, loc: b.New(t), res: newResults(), per: make([]atomic.Int64, n),
		created: map[string]time.Time{}, titles: map[string]string{}}
	for i := range n {
		st := b.Open(t, lr.loc)
		sender, err := notify.NewSender(&notify.SenderOptions{SlackAPIURL: g.slackAPIURL(), AllowLoopbackURLs: true})
		require.NoError(t, err)
		o := opts
		o.Durable = true
		o.OnDelivery = func(res notify.Result) {
			lr.per[i].Add(1)
			lr.res.add(res)
		}
		d, err := notify.NewDispatcher(st, sender, &o)
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
		lr.stores = append(lr.stores, &rig{store: st, fake: fake, d: d, svc: svc})
	}
	return lr
}

// slack and teams add a channel of org through the gate (on the first
// store: they share the database) and return its gate destination.
func (lr *leaseRig) slack(t *testing.T, org, slackID string) string {
	t.Helper()
	_, err := lr.stores[0].store.CreateChannel(t.Context(), notify.Channel{OrgID: org, Type: notify.Slack, Name: slackID, Enabled: true,
		Config: notify.ChannelConfig{BotToken: "xoxb-test", ChannelID: slackID}})
	require.NoError(t, err)
	return "slack:" + slackID
}

func (lr *leaseRig) teams(t *testing.T, org, name string, workflows bool) string {
	t.Helper()
	u := lr.fake.TeamsWebhookURL(name)
	if workflows {
		u = lr.fake.TeamsWorkflowsURL(name)
	}
	u = lr.gate.via(u)
	_, err := lr.stores[0].store.CreateChannel(t.Context(), notify.Channel{OrgID: org, Type: notify.Teams, Name: name, Enabled: true,
		Config: notify.ChannelConfig{WebhookURL: u}})
	require.NoError(t, err)
	p, err := url.Parse(u)
	require.NoError(t, err)
	return p.Path
}

// create raises a request of org titled title through replica i.
func (lr *leaseRig) create(t *testing.T, i int, org, title string) {
	t.Helper()
	req, err := lr.stores[i%len(lr.stores)].svc.Create(t.Context(), approval.Request{OrgID: org, Title: title, RiskScore: 50})
	require.NoError(t, err)
	lr.mu.Lock()
	lr.created[title] = time.Now()
	lr.titles[req.ID] = title
	lr.mu.Unlock()
}

// outage views the rig as an outageRig, for its deliveries and
// channelDests.
func (lr *leaseRig) outage() *outageRig {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	o := &outageRig{rig: lr.stores[0], gate: lr.gate, created: map[string]time.Time{}, titles: map[string]string{}}
	for k, v := range lr.created {
		o.created[k] = v
	}
	for k, v := range lr.titles {
		o.titles[k] = v
	}
	return o
}

// gaps returns the smallest gap between the starts of two requests the
// gate received for dest, and the number of times one started before the
// previous one had been answered.
func (lr *leaseRig) gaps(dest string) (smallest time.Duration, overlaps int) {
	var hs []hit
	for _, h := range lr.gate.Hits() {
		if h.Dest == dest {
			hs = append(hs, h)
		}
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Start.Before(hs[j].Start) })
	smallest = time.Hour
	for i := 1; i < len(hs); i++ {
		smallest = min(smallest, hs[i].Start.Sub(hs[i-1].Start))
		if hs[i].Start.Before(hs[i-1].End) {
			overlaps++
		}
	}
	return smallest, overlaps
}

// RunLease runs the lease tests on b, whose Open should give the queue a
// short retry backoff. They take about 45 s; skipped with -short.
func RunLease(t *testing.T, b Backend) {
	if testing.Short() {
		t.Skip("takes about 45 s")
	}
	t.Run("OneSendAtATimePerDestination", func(t *testing.T) { testLeaseOneAtATime(t, b) })
	t.Run("HangHoldsOneWorker", func(t *testing.T) { testLeaseHang(t, b) })
}

// testLeaseOneAtATime: a fake answering after 600 ms (longer than a Teams
// webhook's 260 ms interval, shorter than Slack's 1.05 s), 12 requests
// raised at once, half through each replica, to two Slack channels and a
// Teams webhook. No destination ever has two requests at once, and its
// sends start at least its interval apart.
func testLeaseOneAtATime(t *testing.T, b Backend) {
	const (
		requests = 12
		latency  = 600 * time.Millisecond
		// The platform's view of a send's start is later than the
		// lease's by the time to reach it, which varies by a few ms.
		slack = 150 * time.Millisecond
	)
	lr := newLeaseRig(t, b, 2, notify.DispatcherOptions{})
	lr.fake.SetLatency(latency)
	dests := []string{lr.slack(t, "acme", "C-LEASE1"), lr.slack(t, "acme", "C-LEASE2"), lr.teams(t, "acme", "lease-teams", false)}
	var titles []string
	start := time.Now()
	for i := range requests {
		title := fmt.Sprintf("storm-%03d", i)
		titles = append(titles, title)
		lr.create(t, i, "acme", title)
	}
	results := lr.res.wait(t, requests*len(dests), 90*time.Second)
	took := time.Since(start)
	o := lr.outage()
	got := o.deliveries(t, results, o.channelDests(t, "acme"))
	checkDelivered(t, got, titles, dests)
	interval := map[string]time.Duration{dests[0]: 1050 * time.Millisecond, dests[1]: 1050 * time.Millisecond, dests[2]: 260 * time.Millisecond}
	for _, dest := range dests {
		smallest, overlaps := lr.gaps(dest)
		t.Logf("%s: most requests at once %d, smallest gap between two sends %s (interval %s, answer %s)",
			dest, lr.gate.Peak(dest), smallest.Round(time.Millisecond), interval[dest], latency)
		assert.Equal(t, 1, lr.gate.Peak(dest), "%s had several requests in flight at once", dest)
		assert.Zero(t, overlaps, "%s: sends started before the previous one was answered", dest)
		assert.GreaterOrEqual(t, smallest, max(interval[dest], latency)-slack, "%s: sends closer than its interval (or the previous answer)", dest)
	}
	t.Logf("%d deliveries (%d / %d per replica) in %s", len(results), lr.per[0].Load(), lr.per[1].Load(), took.Round(time.Millisecond))
	assert.NotZero(t, lr.per[0].Load(), "replica 1 delivered nothing: the test did not exercise two replicas")
	assert.NotZero(t, lr.per[1].Load(), "replica 2 delivered nothing: the test did not exercise two replicas")
}

// testLeaseHang: one organisation's Teams Workflows URL hangs (each try
// ends at the Dispatcher's AttemptTimeout, 6 s here) with 20 requests
// for it, while another organisation gets a request every 1.2 s for a
// Slack channel and a Teams webhook. The hanging destination never has
// more than one request at once, one of its jobs at most holds a worker
// (the others snooze), and the healthy destinations' deliveries are as
// fast as without the hang; once it is lifted,
// everything arrives.
func testLeaseHang(t *testing.T, b Backend) {
	const (
		hangN    = 20
		healthyN = 12
		pace     = 1200 * time.Millisecond
		bound    = 5 * time.Second
	)
	lr := newLeaseRig(t, b, 2, notify.DispatcherOptions{AttemptTimeout: 6 * time.Second})
	hung := lr.teams(t, "hangs", "lease-hang", true)
	fastSlack := lr.slack(t, "healthy", "C-LEASE-FAST")
	fastTeams := lr.teams(t, "healthy", "lease-fast", false)
	raw := b.Raw(t, lr.loc)

	// The healthy organisation alone first: its latency without a hang.
	var baseTitles []string
	for i := range 4 {
		title := fmt.Sprintf("fast-%03d", 100+i)
		baseTitles = append(baseTitles, title)
		lr.create(t, i, "healthy", title)
		time.Sleep(pace)
	}
	base := lr.res.wait(t, 2*len(baseTitles), 30*time.Second)

	lr.gate.set(hung, gateMode{hang: true})
	var hangTitles, fastTitles []string
	for i := range hangN {
		title := fmt.Sprintf("hang-%03d", i)
		hangTitles = append(hangTitles, title)
		lr.create(t, i, "hangs", title)
	}
	// Sample the hanging organisation's jobs River has running meanwhile:
	// all of them (a snoozing job is running between its fetch and its
	// snooze, a database round trip or two: up to ~0.7 s on SQLite under
	// -race on 2 cores), and those running for 2 s or more: holding a
	// worker (the hanging try holds its worker for AttemptTimeout, 6 s).
	var maxRunning, maxHeld atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		seen := map[int64]int{} // job → consecutive samples it was running in
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			rows, err := raw.Query(`SELECT id FROM ` + b.Jobs + ` WHERE state = 'running' AND args->>'org_id' = 'hangs'`)
			if err != nil {
				continue
			}
			now := map[int64]int{}
			var held int64
			for rows.Next() {
				var id int64
				if rows.Scan(&id) == nil {
					now[id] = seen[id] + 1
					if now[id] >= 20 {
						held++
					}
				}
			}
			rows.Close()
			seen = now
			maxRunning.Store(max(maxRunning.Load(), int64(len(now))))
			maxHeld.Store(max(maxHeld.Load(), held))
		}
	}()
	for i := range healthyN {
		title := fmt.Sprintf("fast-%03d", i)
		fastTitles = append(fastTitles, title)
		lr.create(t, i, "healthy", title)
		time.Sleep(pace)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	<-sampled
	lifted := time.Now()
	lr.gate.set(hung, gateMode{})
	results := append(base, lr.res.wait(t, hangN+2*healthyN, 120*time.Second)...)
	o := lr.outage()
	got := o.deliveries(t, results, o.channelDests(t, "hangs", "healthy"))
	checkDelivered(t, got, hangTitles, []string{hung})
	checkDelivered(t, got, append(slices.Clone(baseTitles), fastTitles...), []string{fastSlack, fastTeams})

	lat := func(titles []string, dest string) []time.Duration {
		var out []time.Duration
		for _, title := range titles {
			if d := got[[2]string{title, dest}]; d != nil {
				if at, ok := d.delivered(); ok {
					out = append(out, at.Sub(lr.created[title]))
				}
			}
		}
		return out
	}
	baseLat := append(lat(baseTitles, fastSlack), lat(baseTitles, fastTeams)...)
	tries, last := 0, time.Time{}
	for _, title := range hangTitles {
		if d := got[[2]string{title, hung}]; d != nil {
			tries += len(d.hits)
			if at, ok := d.delivered(); ok && at.After(last) {
				last = at
			}
		}
	}
	slackLat, teamsLat := lat(fastTitles, fastSlack), lat(fastTitles, fastTeams)
	t.Logf("healthy destinations, latency (create → platform's answer): alone %s; while the other hangs: Slack %s, Teams %s",
		fmtLat(baseLat), fmtLat(slackLat), fmtLat(teamsLat))
	t.Logf("hanging destination: %d requests to it in all, most at once %d; its jobs running at once (both replicas) at most %d, "+
		"running 2 s or more (holding a worker) at most %d; all %d delivered %s after the lift",
		tries, lr.gate.Peak(hung), maxRunning.Load(), maxHeld.Load(), hangN, last.Sub(lifted).Round(time.Millisecond))
	assert.Equal(t, 1, lr.gate.Peak(hung), "the hanging destination had several tries in flight (workers) at once")
	for _, dest := range []string{fastSlack, fastTeams, hung} {
		_, overlaps := lr.gaps(dest)
		assert.Zero(t, overlaps, "%s: a send started before the previous one ended", dest)
	}
	assert.Less(t, percentile(slackLat, 1), bound, "the healthy Slack channel's slowest delivery while the other destination hangs")
	assert.Less(t, percentile(teamsLat, 1), bound, "the healthy Teams webhook's slowest delivery while the other destination hangs")
	assert.LessOrEqual(t, maxHeld.Load(), int64(1), "the hanging destination's jobs holding a worker at once")
}
