package queuetest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// The delivery benchmarks, shared by notify's (every store at its
// defaults, in one run) and store/postgres's (River settings varied).
// Each takes a BenchBackend; scripts/bench-delivery.sh runs them all.

// BenchStore is a store the benchmarks deliver from: the channels, the
// requests and the audit log of approval.Service.
type BenchStore interface {
	notify.ChannelStore
	approval.ApprovalStore
	approval.AuditLogger
}

// BenchBackend opens the stores of one kind for the benchmarks.
type BenchBackend struct {
	// New returns a fresh database's location ("" for memory).
	New func(tb testing.TB) string
	// Open opens a store on loc, a pool of its own; closed with Close when
	// it is an io.Closer.
	Open func(tb testing.TB, loc string) BenchStore
	// Durable: the store owns the durable queue (the Dispatcher gets
	// Durable: true and CreateApproval hands its job over in its own
	// transaction); otherwise the in-memory queue, and the host's Enqueue
	// after Create.
	Durable bool
	// Concurrency is how many deliveries one Dispatcher makes at once
	// (River's MaxWorkers; the in-memory Workers), for the ideal wall time.
	Concurrency int
	// Raw opens a plain pool on loc, and Jobs names River's job table
	// there (durable only).
	Raw  func(tb testing.TB, loc string) *sql.DB
	Jobs string
	// Options, when set, adjusts the Dispatcher's options (the in-memory
	// Workers, for one).
	Options func(o *notify.DispatcherOptions)
}

func closeStore(s BenchStore) {
	if c, ok := s.(io.Closer); ok {
		_ = c.Close()
	}
}

// benchRig is Dispatchers (replicas) on one database.
type benchRig struct {
	bb       BenchBackend
	loc      string
	fake     *notifytest.Server
	stores   []BenchStore
	ds       []*notify.Dispatcher
	svcs     []*approval.Service
	ok, fail atomic.Int64
	probes   atomic.Int64   // OK deliveries of agent_status events (BenchPending)
	per      []atomic.Int64 // OK deliveries per replica
	want     atomic.Int64
	done     chan struct{}
}

func newBenchRig(tb testing.TB, bb BenchBackend, replicas int, latency time.Duration, limit bool) *benchRig {
	tb.Helper()
	r := &benchRig{bb: bb, fake: notifytest.New(), done: make(chan struct{}, 1), per: make([]atomic.Int64, replicas)}
	r.fake.SetLatency(latency)
	tb.Cleanup(r.fake.Close)
	loc := bb.New(tb)
	r.loc = loc
	sender, err := notify.NewSender(&notify.SenderOptions{SlackAPIURL: r.fake.SlackAPIURL(), AllowLoopbackURLs: true})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range replicas {
		st := bb.Open(tb, loc)
		o := notify.DispatcherOptions{Durable: bb.Durable, DisableRateLimit: !limit, OnDelivery: func(res notify.Result) {
			if !res.OK {
				r.fail.Add(1)
				return
			}
			if res.Event == notify.EventAgentStatus {
				r.probes.Add(1)
				return
			}
			r.per[i].Add(1)
			if r.ok.Add(1) >= r.want.Load() {
				select {
				case r.done <- struct{}{}:
				default:
				}
			}
		}}
		if ds, ok := st.(interface{ Deliveries() notify.DeliveryStore }); ok {
			o.Deliveries = ds.Deliveries() // the deliveries log, as the example server has it
		}
		if bb.Options != nil {
			bb.Options(&o)
		}
		d, err := notify.NewDispatcher(st, sender, &o)
		if err != nil {
			tb.Fatal(err)
		}
		svc, err := approval.NewService(st, st, &approval.Options{FollowUp: d.FollowUp})
		if err != nil {
			tb.Fatal(err)
		}
		r.stores, r.ds, r.svcs = append(r.stores, st), append(r.ds, d), append(r.svcs, svc)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, d := range r.ds {
			_ = d.Close(ctx)
		}
		for _, st := range r.stores {
			closeStore(st)
		}
	})
	return r
}

// channelsPrefixed adds n Slack channels (bot token, one Slack channel
// each, IDs prefix + a number) to org.
func (r *benchRig) channelsPrefixed(tb testing.TB, org string, n int, prefix string) {
	tb.Helper()
	for i := range n {
		_, err := r.stores[0].CreateChannel(context.Background(), notify.Channel{OrgID: org, Type: notify.Slack,
			Name: fmt.Sprintf("ch-%04d", i), Enabled: true,
			Config: notify.ChannelConfig{BotToken: "xoxb-bench", ChannelID: fmt.Sprintf("%s%05d", prefix, i)}})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// create accepts a request as a host does: Create, which hands the
// notifications over in its transaction on a durable store; on the
// in-memory queue, Create then Enqueue.
func (r *benchRig) create(ctx context.Context, replica int, org string) error {
	req, err := r.svcs[replica].Create(ctx, benchRequest(org))
	if err != nil || r.bb.Durable {
		return err
	}
	return r.ds[replica].Enqueue(org, notify.ApprovalRequested{Request: req})
}

// benchRequest is the approval request the benchmarks raise.
func benchRequest(org string) approval.Request {
	return approval.Request{OrgID: org, Title: "Deploy web-7 to production", RiskScore: 70,
		Description: "Rolls out release 2026.12.1 to the production cluster", RequestedBy: "ci-bot", Agent: "deployer"}
}

// await waits until n more deliveries than before have been made.
func (r *benchRig) await(tb testing.TB, n int64, timeout time.Duration) {
	target := r.want.Add(n)
	deadline := time.After(timeout)
	for r.ok.Load() < target {
		select {
		case <-r.done:
		case <-deadline:
			tb.Fatalf("%d of %d deliveries after %s (%d failed)", r.ok.Load(), target, timeout, r.fail.Load())
		}
	}
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
}

// BenchAccept measures accepting work, as the host sees it, with p50 and
// p99 latencies: op "create" is creating an approval request with its
// jobs (on a durable store the fan-out job is inserted in the request's
// transaction; on memory, Create then Enqueue), "create-nojobs" the same
// insert with no queue started (the baseline of the hand-off's cost),
// "enqueue" is Enqueue of a drift alert. The organisation has no channel,
// so the background work each accepted item causes is small.
func BenchAccept(b *testing.B, bb BenchBackend, op string) {
	if op == "create-nojobs" {
		bb.Durable = false
	}
	r := newBenchRig(b, bb, 1, 0, true)
	ctx := context.Background()
	ev := notify.DriftAlert{Resource: "aws_security_group.web", Severity: notify.SeverityHigh, Expected: "443", Actual: "0-65535"}
	lat := make([]time.Duration, 0, 4096)
	for b.Loop() {
		t0 := time.Now()
		var err error
		switch op {
		case "create":
			err = r.create(ctx, 0, "acme")
		case "create-nojobs":
			_, err = r.svcs[0].Create(ctx, benchRequest("acme"))
		case "enqueue":
			err = r.ds[0].Enqueue("acme", ev)
		default:
			b.Fatalf("unknown op %q", op)
		}
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	p50, p99 := percentiles(lat)
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
}

// Deliver describes a BenchDeliver run.
type Deliver struct {
	// Replicas is the Dispatchers on one database (each a store with its
	// own pool and, when durable, its own River client); the requests are
	// raised on each in turn.
	Replicas int
	// Events per op, each to every one of Channels Slack channels.
	Events, Channels int
	// Latency is how long the fake takes to answer.
	Latency time.Duration
	// RateLimit keeps the per-channel rate limit on. Each op then uses
	// channels of its own (set up outside the timer), so that one op's
	// posts do not wait for the previous op's: use Events 1 with it.
	RateLimit bool
	// Drift sends drift alerts (Enqueue) instead of approval requests:
	// no request to read, no copy to record.
	Drift bool
}

// BenchDeliver measures deliveries: each op raises d.Events events for
// d.Channels channels against a fake answering after d.Latency, and
// waits for every post. It reports deliveries/s and, with a latency,
// x_ideal: the op's wall time over the ideal, ceil(posts / concurrency)
// × latency with every replica's concurrency (and x_ideal_p50, the
// median op's).
func BenchDeliver(b *testing.B, bb BenchBackend, d Deliver) {
	d.Replicas = max(d.Replicas, 1)
	r := newBenchRig(b, bb, d.Replicas, d.Latency, d.RateLimit)
	ctx := context.Background()
	posts := int64(d.Events * d.Channels)
	ev := notify.DriftAlert{Resource: "aws_security_group.web", Severity: notify.SeverityHigh, Expected: "443", Actual: "0-65535"}
	org, orgs := "acme", 0
	setup := func() {
		if orgs == 0 || d.RateLimit {
			org = fmt.Sprintf("org-%d", orgs)
			r.channelsPrefixed(b, org, d.Channels, fmt.Sprintf("C%03d", orgs))
			orgs++
		}
	}
	op := func() {
		for e := range d.Events {
			var err error
			if d.Drift {
				err = r.ds[e%d.Replicas].Enqueue(org, ev)
			} else {
				err = r.create(ctx, e%d.Replicas, org)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		r.await(b, posts, 5*time.Minute)
	}
	setup()
	op() // warm up: River's first fetch, connections, the leader
	for i := range r.per {
		r.per[i].Store(0)
	}
	var wall []time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		setup()
		b.StartTimer()
		t0 := time.Now()
		op()
		wall = append(wall, time.Since(t0))
		n++
	}
	b.ReportMetric(float64(int64(n)*posts)/b.Elapsed().Seconds(), "deliveries/s")
	if d.Latency > 0 {
		conc := int64(bb.Concurrency * d.Replicas)
		ideal := time.Duration((posts+conc-1)/conc) * d.Latency
		b.ReportMetric(float64(b.Elapsed())/float64(n)/float64(ideal), "x_ideal")
		p50, _ := percentiles(wall)
		b.ReportMetric(float64(p50)/float64(ideal), "x_ideal_p50")
	}
	if d.Replicas > 1 {
		var parts []string
		for i := range r.per {
			parts = append(parts, strconv.FormatInt(r.per[i].Load(), 10))
		}
		b.Logf("deliveries per replica: %s", strings.Join(parts, " / "))
	}
	if f := r.fail.Load(); f > 0 {
		b.Fatalf("%d deliveries failed", f)
	}
}

// BenchPending measures the memory a backlog of n pending jobs costs the
// process: n approval requests for one Slack channel, whose rate limit
// (about one message a second) keeps all but a few waiting. Once every
// job has been seen by the queue it reports the Go heap in use and the
// process's RSS (after a GC), and their growth per pending job. Durable:
// each fan-out job done and each post tried once (then snoozed until its
// slot), read from River's table. In memory: the fan-outs of an
// organisation run in order, so an agent_status event queued last, for a
// channel of its own, is delivered once every request has been expanded
// into its post. Run it with -benchtime=1x.
func BenchPending(b *testing.B, bb BenchBackend, n int) {
	for b.Loop() {
		b.StopTimer()
		r := newBenchRig(b, bb, 1, 0, true)
		ctx := context.Background()
		for _, ch := range []notify.Channel{
			{Name: "backlog", Events: []notify.EventType{notify.EventApprovalRequest}, Config: notify.ChannelConfig{ChannelID: "CBACKLOG"}},
			{Name: "probe", Events: []notify.EventType{notify.EventAgentStatus}, Config: notify.ChannelConfig{ChannelID: "CPROBE"}},
		} {
			ch.OrgID, ch.Type, ch.Enabled, ch.Config.BotToken = "acme", notify.Slack, true, "xoxb-bench"
			if _, err := r.stores[0].CreateChannel(ctx, ch); err != nil {
				b.Fatal(err)
			}
		}
		var raw *sql.DB
		if bb.Durable {
			raw = bb.Raw(b, r.loc)
		}
		heap0, rss0 := memNow()
		b.StartTimer()
		for range n {
			if err := r.create(ctx, 0, "acme"); err != nil {
				b.Fatal(err)
			}
		}
		if raw == nil {
			if err := r.ds[0].Enqueue("acme", notify.AgentStatusChanged{Agent: "probe", Status: "offline"}); err != nil {
				b.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Minute)
		for !r.settled(b, raw) {
			if time.Now().After(deadline) {
				b.Fatal("the backlog did not settle in 10 minutes")
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.StopTimer()
		heap1, rss1 := memNow()
		pending := int64(n) - r.ok.Load()
		b.ReportMetric(float64(heap1)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(rss1)/(1<<20), "rss-MiB")
		b.ReportMetric((float64(heap1)-float64(heap0))/float64(pending), "heap-B/job")
		b.ReportMetric((float64(rss1)-float64(rss0))/float64(pending), "rss-B/job")
		b.ReportMetric(float64(pending), "pending")
		b.StartTimer()
	}
}

func (r *benchRig) settled(tb testing.TB, raw *sql.DB) bool {
	if raw == nil {
		return r.probes.Load() > 0
	}
	var left int
	err := raw.QueryRow(`SELECT count(*) FROM ` + r.bb.Jobs + ` WHERE (kind = 'chatnotify.fan_out' AND state <> 'completed')
		OR (kind = 'chatnotify.post' AND attempted_at IS NULL)`).Scan(&left)
	if err != nil {
		tb.Fatal(err)
	}
	return left == 0
}

// memNow returns the Go heap in use and the process's resident set size,
// after a GC.
func memNow() (heap, rss uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if raw, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(raw)); len(f) > 1 {
			pages, _ := strconv.ParseUint(f[1], 10, 64)
			rss = pages * uint64(os.Getpagesize())
		}
	}
	return m.HeapInuse, rss
}
