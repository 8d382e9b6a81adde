package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/jobq"
)

// Errors returned by [Dispatcher] methods.
var (
	// ErrQueueFull is returned by Enqueue when QueueSize jobs are waiting
	// already. The event was not accepted: the caller decides whether to
	// retry later or report it. (FollowUp, which returns nothing, logs
	// it at error level.)
	ErrQueueFull = errors.New("notify: delivery queue is full")
	// ErrClosed is returned by Enqueue after Close, on the in-memory
	// queue. The durable queue still takes jobs after Close: they wait in
	// the database for the next start.
	ErrClosed = errors.New("notify: dispatcher is closed")
)

var (
	// errNotSubscribable is returned by Enqueue for an event no channel
	// subscribes to, such as a TestMessage.
	errNotSubscribable = errors.New("notify: event type is not subscribable: send it with PlatformSender.Send")
	// errOrgMismatch is returned by Enqueue for an approval request of
	// another organisation.
	errOrgMismatch = errors.New("notify: event belongs to another organisation")
)

// ApprovalGetter reads approval requests; [approval.ApprovalStore]
// satisfies it. A [Dispatcher] uses one to find out whether a request was
// decided while its notification was in flight.
type ApprovalGetter interface {
	// GetApproval returns the request id of organisation orgID, or an
	// error wrapping approval.ErrNotFound.
	GetApproval(ctx context.Context, orgID, id string) (approval.Request, error)
}

// DispatcherOptions configures a [Dispatcher]. The zero value gives the
// defaults.
type DispatcherOptions struct {
	// Workers is how many jobs run at once, across all destinations; a
	// destination (a Slack channel, a webhook) runs one job at a time.
	// Defaults to 16.
	Workers int
	// Posts, when set, records where each approval request was posted,
	// so that FollowUp can bring every copy up to date once the request
	// is decided. Defaults to nil: copies are not tracked, and a decision
	// changes only the clicked Slack message (through its response_url).
	Posts PostStore
	// Approvals, when set along with Posts, lets copies of a request
	// decided while its notification was queued or in flight show the
	// decision. A decision can only reach the copies recorded when its
	// FollowUp runs, and a copy is recorded once the platform has
	// answered; so right after recording a copy of an approval request,
	// the dispatcher reads the request again and, if it is no longer
	// pending, queues the update of that copy. When the decision lands
	// between the record and that read, both see the copy; the copy is
	// then updated only once, so that no Teams channel gets two
	// follow-up cards. That guard lives in this Dispatcher's memory: with
	// several replicas sharing a store, a copy decided in that narrow
	// window may still be updated by two of them. Set it to the host's
	// approval store. Defaults to nil: a request decided while its
	// notification is still in flight keeps its buttons.
	Approvals ApprovalGetter
	// OnDelivery is called once for each job's final result (after any
	// retries), from the goroutine that ran it. It must be safe for
	// concurrent use and should return quickly. Defaults to nil.
	OnDelivery func(Result)
	// Deliveries, when set, is the deliveries log the Dispatcher writes
	// (the stores under store/ provide one: their Deliveries method), for
	// the settings API's health, deliveries and retry endpoints
	// (SettingsOptions.Deliveries, and SettingsOptions.Retry set to
	// [Dispatcher.Retry]). Each job that delivers to a channel (a post,
	// the chat.update of a copy, a Teams follow-up; not a response_url
	// answer) is saved as a pending [Delivery] when it is created, and at
	// the end of each attempt: delivered, pending with the failure's
	// Reason and Code while a retry follows, or failed once the retries
	// are over. A store error while saving is logged and never fails the
	// delivery. On the durable queue it must be the store's own log (its
	// Deliveries method: NewDispatcher returns an error otherwise), which
	// is then written in the transactions of the jobs themselves: a
	// delivery is created pending with its job, and marked delivered in
	// the transaction completing it (see the package documentation).
	// Defaults to nil: no log.
	Deliveries DeliveryStore
	// Logger receives one line per result (info when delivered, warn
	// when not) and queue problems. Defaults to a logger that discards
	// everything. Secrets are never logged.
	Logger *slog.Logger

	// SlackRates and TeamsRates limit how fast messages go to one
	// destination channel. Default to 3 per 3 seconds for Slack
	// (Slack's "one per second with short bursts"), and 4 per second and
	// 60 per 30 seconds for Teams webhooks. A Teams conversation reached
	// through the bot has the Bot Connector's limits instead: 7 per
	// second, 8 per 2 seconds, 60 per 30 seconds and 1,800 per hour.
	SlackRates []Rate
	TeamsRates []Rate
	// DisableRateLimit turns the per-channel limits off. Defaults to
	// false.
	DisableRateLimit bool

	// MaxAttempts bounds the tries of a job, the first included.
	// Defaults to 4.
	MaxAttempts int
	// MaxElapsed bounds the time spent retrying one job: no retry starts
	// after it. Defaults to 2 minutes.
	MaxElapsed time.Duration
	// AttemptTimeout bounds one try. Defaults to 20 seconds.
	AttemptTimeout time.Duration
	// MaxRetryAfter caps how long a platform's Retry-After is honoured: a
	// longer one ends the retries with the rate-limit error, rather than
	// retrying early. Defaults to 30 seconds.
	MaxRetryAfter time.Duration
	// BaseBackoff and MaxBackoff shape the exponential backoff after a
	// server or network error: try n waits a random time between half
	// and all of min(BaseBackoff × 2^(n-1), MaxBackoff). Default to 500
	// milliseconds and 10 seconds.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration

	// QueueSize bounds the jobs waiting in the queue: Enqueue returns
	// ErrQueueFull, and FollowUp logs that it could not queue its work,
	// when it is reached. The per-channel jobs a queued event or decision
	// expands into are always accepted, so nothing accepted is dropped.
	// Defaults to 65,536 (a job takes about a kilobyte while it waits).
	QueueSize int
	// MaxFollowUpDelay bounds how long the follow-up work of clicks and
	// decisions (message updates, Teams result cards, response_url
	// answers) is held back while clicks keep arriving within a few
	// milliseconds of each other, so that in a burst the CPU goes to
	// acknowledging clicks within Slack's 3 seconds first; Slack accepts
	// a response_url answer for 30 minutes. Work is queued as soon as
	// the clicks pause, so at the pace people click nothing waits.
	// Defaults to 10 seconds; a negative value never holds work back.
	MaxFollowUpDelay time.Duration

	// Durable asks for the durable queue of the ChannelStore: jobs then
	// survive restarts, are retried for MaxElapsed (default 24 hours;
	// MaxAttempts defaults to 200), rate limits are shared through the
	// database, and NewDispatcher starts working the jobs left in it.
	// Defaults to false (in memory); the SQL stores of store/sqlite and
	// store/postgres provide the durable queue; other stores ignore it.
	Durable bool

	// Sweep, when set, is run every SweepInterval, from NewDispatcher
	// until Close. Hosts set it to a function calling
	// approval.Service.ExpireDue, so that requests past their deadline
	// are expired, and their chat copies updated, without a click:
	//
	//	Sweep: func(ctx context.Context) error { _, err := svc.ExpireDue(ctx, 100); return err },
	//
	// On the durable queue it is a periodic job that only the replica
	// River elects leader inserts: it runs once per tick across every
	// process sharing the database, on any one of them, and a tick is
	// skipped while the previous run is still queued or running. In
	// memory this Dispatcher runs it on a ticker of its own. ctx ends when
	// Close stops the Dispatcher (and, on the durable queue, after the
	// queue's JobTimeout). An error is logged; the next tick tries again.
	// Defaults to nil: no sweep.
	Sweep func(ctx context.Context) error
	// SweepInterval is the period of Sweep. Defaults to 30 seconds.
	SweepInterval time.Duration

	// Now and Sleep are the clock, for tests: Sleep waits d or until ctx
	// is done, and then returns ctx.Err(). Default to the real clock.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Result is the outcome of one job (one operation to one destination),
// after any retries. It holds no secret.
type Result struct {
	OrgID       string      `json:"-"`
	ChannelID   string      `json:"channel_id,omitempty"`
	ChannelName string      `json:"channel_name,omitempty"`
	ChannelType ChannelType `json:"channel_type"`
	// Event is the type of the event posted, or approval_request for the
	// operations on an approval request's copies.
	Event EventType `json:"event"`
	// ApprovalID is set for approval requests and their follow-ups.
	ApprovalID string `json:"approval_id,omitempty"`
	// Op is what was done: "post" (a new message), "update" (a Slack
	// copy rewritten with chat.update, or a Teams bot card replaced with
	// the result), "follow_up" (a Teams result
	// card), "replace" (the clicked Slack message replaced through its
	// response_url) or "ephemeral" (a warning shown only to the clicker).
	Op string `json:"op"`
	OK bool   `json:"ok"`
	// Error is the reason of a failure, meant for admins (the
	// [DeliveryError] Reason, or a generic sentence for other errors).
	Error string `json:"error,omitempty"`
	// Code is the platform's error code or "http_<status>".
	Code string `json:"code,omitempty"`
	// Attempts is how many tries were made.
	Attempts int     `json:"attempts"`
	Receipt  Receipt `json:"receipt,omitzero"`
	// Err is the error of the last try, for errors.As (a *DeliveryError,
	// or the context's error); nil on success.
	Err error `json:"-"`
}

// Dispatcher delivers through one queue and one retry policy every job
// the library has: posting an event to each subscribed channel
// ([Dispatcher.Enqueue]), and the follow-ups of a decision or a click
// ([Dispatcher.FollowUp]): rewriting each copy of a decided request and
// answering the click's response_url. Each job is one operation to one
// destination, limited in rate per destination and retried on transient
// failures; a destination runs one job at a time, so a slow or failing
// one delays only itself.
//
// Its constructor starts no goroutine of the in-memory queue (the first
// job starts its workers), but starts the durable queue's workers
// (DispatcherOptions.Durable) and the sweep (DispatcherOptions.Sweep);
// Close stops them all. A Dispatcher is safe for concurrent use.
type Dispatcher struct {
	channels ChannelStore
	sender   transport
	o        DispatcherOptions
	limits   *limiter
	rand     func() float64 // [0,1), for jitter
	copies   copyTracker
	q        queue
	// dq, when set, is the durable queue of the ChannelStore, used
	// instead of q (see durable.go); approvals reads requests for it.
	dq        jobq.Queue
	approvals ApprovalGetter
	retryMu   sync.Mutex // serialises Retry

	base   context.Context // parent of the jobs' work; cancelled by Close
	cancel context.CancelFunc

	// The in-memory sweep (DispatcherOptions.Sweep without a durable
	// queue): closing sweepStop asks its loop to stop, sweepCancel aborts
	// a run, sweepDone is closed when the loop has returned.
	sweepStop   chan struct{}
	sweepCancel context.CancelFunc
	sweepDone   chan struct{}
	stopSweep   sync.Once
}

// NewDispatcher returns a Dispatcher reading channels from channels and
// delivering with sender. opts may be nil.
func NewDispatcher(channels ChannelStore, sender *PlatformSender, opts *DispatcherOptions) (*Dispatcher, error) {
	if sender == nil {
		return nil, errors.New("notify: NewDispatcher needs a channel store and a sender")
	}
	return newDispatcher(channels, sender, opts)
}

func newDispatcher(channels ChannelStore, sender transport, opts *DispatcherOptions) (*Dispatcher, error) {
	if channels == nil || sender == nil {
		return nil, errors.New("notify: NewDispatcher needs a channel store and a sender")
	}
	var o DispatcherOptions
	if opts != nil {
		o = *opts
	}
	var dq jobq.Queue
	if p, ok := channels.(jobq.Provider); ok && o.Durable {
		dq = p.DeliveryQueue()
	}
	if dq != nil && o.Deliveries != nil {
		// The durable queue writes the log in its own transactions, so
		// it must be the store's.
		own, ok := channels.(interface{ Deliveries() DeliveryStore })
		if !ok || any(own.Deliveries()) != any(o.Deliveries) {
			return nil, errors.New("notify: with Durable, DispatcherOptions.Deliveries must be the store's own deliveries log (its Deliveries method)")
		}
	}
	if dq != nil {
		// Durable: retried over hours; the store reads requests and keeps
		// the copies.
		defaults(&o.MaxAttempts, durableMaxAttempts)
		defaults(&o.MaxElapsed, durableMaxElapsed)
		if o.Posts == nil {
			o.Posts, _ = channels.(PostStore)
		}
	}
	defaults(&o.Workers, 16)
	defaults(&o.MaxAttempts, 4)
	defaults(&o.MaxElapsed, 2*time.Minute)
	defaults(&o.AttemptTimeout, 20*time.Second)
	defaults(&o.MaxRetryAfter, 30*time.Second)
	defaults(&o.BaseBackoff, 500*time.Millisecond)
	defaults(&o.MaxBackoff, 10*time.Second)
	defaults(&o.QueueSize, 65536)
	defaults(&o.MaxFollowUpDelay, 10*time.Second)
	defaults(&o.SweepInterval, 30*time.Second)
	if o.SlackRates == nil {
		o.SlackRates = defaultSlackRates()
	}
	if o.TeamsRates == nil {
		o.TeamsRates = defaultTeamsRates()
	}
	for _, r := range append(append([]Rate(nil), o.SlackRates...), o.TeamsRates...) {
		if r.N <= 0 || r.Per <= 0 {
			return nil, fmt.Errorf("notify: invalid rate %d per %s", r.N, r.Per)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{
		channels: channels,
		sender:   sender,
		o:        o,
		limits:   newLimiter(),
		rand:     rand.Float64,
		base:     base,
		cancel:   cancel,
	}
	// Retry and the durable queue read requests again.
	d.approvals = o.Approvals
	if d.approvals == nil {
		d.approvals, _ = channels.(ApprovalGetter)
	}
	d.q.init(o.Workers, o.QueueSize, o.MaxFollowUpDelay, d.run, func(wait time.Duration) error { return o.Sleep(base, wait) })
	if dq != nil {
		d.dq = dq
		if o.Sweep != nil {
			p, ok := dq.(jobq.Periodic)
			if !ok {
				cancel()
				return nil, errors.New("notify: the store's durable queue cannot run the Sweep")
			}
			p.Every(jobq.Sweep, o.SweepInterval)
		}
		// Work the jobs left in the database at once, a previous process's
		// included.
		if err := dq.Start(base, d.runDurable); err != nil {
			cancel()
			return nil, fmt.Errorf("notify: starting the durable queue: %w", err)
		}
	} else if o.Sweep != nil {
		d.startSweep()
	}
	return d, nil
}

// startSweep runs the Sweep on a ticker, for the in-memory queue.
func (d *Dispatcher) startSweep() {
	ctx, cancel := context.WithCancel(d.base)
	d.sweepStop, d.sweepCancel, d.sweepDone = make(chan struct{}), cancel, make(chan struct{})
	go func() {
		defer close(d.sweepDone)
		tick := time.NewTicker(d.o.SweepInterval)
		defer tick.Stop()
		for {
			select {
			case <-d.sweepStop:
				return
			case <-tick.C:
				d.sweep(ctx)
			}
		}
	}()
}

// sweep makes one run of the Sweep, and logs its error.
func (d *Dispatcher) sweep(ctx context.Context) {
	err := d.o.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		d.o.Logger.ErrorContext(ctx, "notify: the sweep failed; the next one tries again", "err", err)
	}
}

// stopSweeping stops the in-memory sweep: a run in progress may finish
// until ctx is done, then it is cancelled; it returns once the loop has
// returned. The expiries it made have queued their follow-ups by then.
func (d *Dispatcher) stopSweeping(ctx context.Context) {
	if d.sweepDone == nil {
		return
	}
	d.stopSweep.Do(func() { close(d.sweepStop) })
	select {
	case <-d.sweepDone:
	case <-ctx.Done():
		d.sweepCancel()
		<-d.sweepDone
	}
	d.sweepCancel()
}

func defaults[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enqueue queues ev for delivery to every enabled channel of orgID
// subscribed to ev's type, and returns at once. The queued event then
// becomes one post job per channel; each result goes to OnDelivery and
// the logger. Enqueue returns ErrQueueFull when QueueSize jobs are
// already waiting (the event is not queued: nothing is ever dropped
// silently), ErrClosed after Close, and an error for an event no channel
// subscribes to (a [TestMessage]: send it with [PlatformSender.Send]) or
// an approval request of another organisation. The first job starts the
// queue's workers; Close stops them.
func (d *Dispatcher) Enqueue(orgID string, ev Event) error {
	if err := checkEvent(orgID, ev); err != nil {
		return err
	}
	j := &job{kind: jobFanOut, orgID: orgID, event: ev}
	if d.dq != nil {
		return d.pushDurable(j)
	}
	return d.q.push(false, j)
}

// checkEvent rejects events Enqueue cannot take.
func checkEvent(orgID string, ev Event) error {
	if ev == nil {
		return errors.New("notify: nil event")
	}
	switch ev.eventType() {
	case EventApprovalRequest, EventDriftAlert, EventAgentStatus:
	default:
		return fmt.Errorf("%w: %q", errNotSubscribable, ev.eventType())
	}
	if ar, ok := deref(ev).(ApprovalRequested); ok && ar.Request.OrgID != "" && ar.Request.OrgID != orgID {
		return errOrgMismatch
	}
	return nil
}

// FollowUp queues the outbound work a decision or a click leaves behind.
// Its signature is approval.Options.FollowUp's, which hosts set to it:
//
//	svc, _ := approval.NewService(store, store, &approval.Options{FollowUp: d.FollowUp})
//
// It returns at once; the work is queued as jobs (in a burst of clicks,
// after the burst: see MaxFollowUpDelay), whose results go to OnDelivery
// and the logger:
//
//   - f.Decided: every copy of f.Request recorded in the PostStore (of
//     its organisation only) is brought up to date: a Slack message
//     posted with a bot token is rewritten with chat.update (the result
//     replaces the buttons), a Teams channel that received the card gets
//     a short follow-up result card (unless the channel has since been
//     disabled). A Slack message posted through an incoming webhook
//     cannot be edited and is left as it is; copies whose channel has
//     since been deleted are skipped.
//   - f.ResponseURL with f.Warning empty: the clicked Slack message is
//     replaced, through its response_url, with the request's result.
//   - f.ResponseURL with f.Warning: the warning is shown to the clicker
//     only (ephemeral); the message stays as it is.
//
// When the queue is full or closed the work is not queued, and that is
// logged at error level. ctx is not used for the queued work, which
// outlives the reviewer's request.
func (d *Dispatcher) FollowUp(ctx context.Context, f approval.FollowUp) {
	r := f.Request
	var jobs []*job
	if f.Decided && r.Status != approval.StatusPending && r.ID != "" && d.o.Posts != nil {
		if r.OrgID == "" {
			d.o.Logger.ErrorContext(ctx, "notify: a decided request without an organisation; its copies cannot be found",
				"approval_id", r.ID, "status", r.Status)
		} else {
			jobs = append(jobs, &job{kind: jobDecided, orgID: r.OrgID, request: r})
		}
	}
	if f.ResponseURL != "" {
		j := &job{kind: jobReplace, orgID: r.OrgID, request: r, responseURL: f.ResponseURL, notAfter: d.o.Now().Add(responseURLLife)}
		if f.Warning != "" {
			j.kind, j.warning = jobEphemeral, f.Warning
		}
		jobs = append(jobs, j)
	}
	if len(jobs) == 0 {
		return
	}
	push := func() error { return d.q.hold(jobs...) }
	if d.dq != nil {
		push = func() error { return d.pushDurable(jobs...) }
	}
	if err := push(); err != nil {
		d.o.Logger.ErrorContext(ctx, "notify: could not queue the follow-up of a decision or click; the messages will not show it",
			"approval_id", r.ID, "org_id", r.OrgID, "status", r.Status, "decided", f.Decided,
			"response_url", f.ResponseURL != "", "err", err)
	}
}

// Close stops the sweep (letting a run in progress finish within ctx),
// stops accepting jobs (Enqueue returns ErrClosed from then on) and
// stops the workers. Call it after the host has stopped taking requests
// (http.Server.Shutdown), and close the stores only once it has
// returned: no delivery runs then. Close is safe to call more than once.
//
// In memory, Close waits for the queued and in-flight jobs to finish,
// including the jobs they lead to (the posts of a queued event, the
// catch-up of a copy) and their retries. If ctx ends first, it cancels
// them (each unfinished job is reported as cancelled through OnDelivery
// and the logger: it is lost), waits for the workers to return, which
// they do promptly once their context has ended, and returns ctx.Err().
//
// On the durable queue nothing is lost and nothing waits for the queue to
// drain: Close stops fetching jobs, lets the tries in flight finish until
// shortly (2 s) before ctx's deadline (10 s without one), then cancels
// those still running, which go back to the database with their attempt
// not spent; queued jobs, retries and snoozes stay there too. The next
// start, or another replica, makes them. Close returns nil once no try
// runs, also when it had to cancel some; an error only when a try still
// runs 15 s after ctx has ended, in which case the store must not be
// closed. Work handed over after Close (by the store's transactions, by
// Enqueue or FollowUp, while the store is open) is kept in the database
// for the next start.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.stopSweeping(ctx)
	if d.dq != nil {
		err := d.dq.Stop(ctx)
		d.cancel()
		return err
	}
	done := d.q.close()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		// Cut the remaining work short: attempts in flight see their
		// context end, and what is still queued is reported as cancelled.
		// Then wait for the workers, which now finish promptly, so that a
		// host may close its store as soon as Close returns.
		d.cancel()
		<-done
		return ctx.Err()
	}
}

// describe turns an error into the admin-facing reason and code of a
// Result.
func describe(err error) (reason, code string) {
	var de *DeliveryError
	switch {
	case errors.As(err, &de):
		return de.Reason, de.Code
	case errors.Is(err, context.Canceled):
		return "the delivery was cancelled before it completed", "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "the delivery ran out of time before it completed", "timeout"
	}
	return "the delivery failed; see the server log", "error"
}

// report passes res to OnDelivery and the logger.
func (d *Dispatcher) report(ctx context.Context, res Result) {
	if d.o.OnDelivery != nil {
		d.o.OnDelivery(res)
	}
	attrs := []slog.Attr{
		slog.String("org_id", res.OrgID),
		slog.String("channel_id", res.ChannelID),
		slog.String("channel_name", res.ChannelName),
		slog.String("channel_type", string(res.ChannelType)),
		slog.String("event", string(res.Event)),
		slog.String("op", res.Op),
		slog.Int("attempts", res.Attempts),
	}
	if res.ApprovalID != "" {
		attrs = append(attrs, slog.String("approval_id", res.ApprovalID))
	}
	if res.OK {
		d.o.Logger.LogAttrs(ctx, slog.LevelInfo, "notify: delivered", attrs...)
		return
	}
	attrs = append(attrs, slog.String("code", res.Code), slog.String("reason", res.Error))
	if res.Code == "error" && res.Err != nil {
		// Not a classified failure: the Result says "see the server log".
		attrs = append(attrs, slog.String("err", scrub(res.Err.Error())))
	}
	d.o.Logger.LogAttrs(ctx, slog.LevelWarn, "notify: delivery failed", attrs...)
}
