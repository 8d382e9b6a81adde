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
)

// Errors returned by [Dispatcher] methods.
var (
	// ErrQueueFull is returned by Enqueue when the queue holds QueueSize
	// jobs already. The event was not accepted: the caller decides
	// whether to retry, deliver synchronously with Dispatch, or report.
	ErrQueueFull = errors.New("notify: delivery queue is full")
	// ErrClosed is returned by Enqueue after Close.
	ErrClosed = errors.New("notify: dispatcher is closed")
	// ErrNotSubscribable is returned for an event type no channel can
	// subscribe to, such as a [TestMessage]: send those with a [Sender].
	ErrNotSubscribable = errors.New("notify: event type is not subscribable")
	// ErrOrgMismatch is returned when an approval request of one
	// organisation is dispatched to another.
	ErrOrgMismatch = errors.New("notify: event belongs to another organisation")
)

// ApprovalGetter reads approval requests; [approval.ApprovalStore]
// satisfies it. A [Dispatcher] uses one to find out whether a request was
// decided while its notification was in flight.
type ApprovalGetter interface {
	// GetApproval returns the request id, or an error wrapping
	// approval.ErrNotFound.
	GetApproval(ctx context.Context, id string) (approval.Request, error)
}

// DispatcherOptions configures a [Dispatcher]. The zero value gives the
// defaults.
type DispatcherOptions struct {
	// Workers is how many channels one Dispatch delivers to at once.
	// Defaults to 8.
	Workers int
	// Posts, when set, records where each approval request was posted,
	// for [Dispatcher.UpdatePosts]. Defaults to nil: copies are not
	// tracked and cannot be updated.
	Posts PostStore
	// Approvals, when set along with Posts, lets copies of a request
	// decided while its notification was queued or in flight show the
	// decision. [Dispatcher.Decided] can only update the copies recorded
	// when it runs, and a copy is recorded once the platform has
	// answered; so right after recording a copy of an approval request,
	// the dispatcher reads the request again and, if it is no longer
	// pending, brings that copy up to date at once, as
	// [Dispatcher.UpdatePosts] would (its Result goes to OnDelivery and
	// the logger). When the decision lands between the record and that
	// read, both see the copy; the dispatcher then updates it only once,
	// so that no Teams channel gets two follow-up cards. That guard lives
	// in this Dispatcher's memory: with several replicas sharing a store,
	// a copy decided in that narrow window may still be updated by two
	// of them. Set it to the host's approval store. Defaults to nil: a
	// request decided while its notification is still in flight keeps its
	// buttons.
	Approvals ApprovalGetter
	// OnDelivery is called once for each channel's final result (after
	// any retries), from the goroutine that delivered it. It must be safe
	// for concurrent use and should return quickly. Defaults to nil.
	OnDelivery func(Result)
	// Logger receives one line per result (info when delivered, warn
	// when not) and queue problems. Defaults to a logger that discards
	// everything. Secrets are never logged.
	Logger *slog.Logger

	// SlackRates and TeamsRates limit how fast messages go to one
	// destination channel. Default to [DefaultSlackRates] and
	// [DefaultTeamsRates].
	SlackRates []Rate
	TeamsRates []Rate
	// DisableRateLimit turns the per-channel limits off. Defaults to
	// false.
	DisableRateLimit bool

	// MaxAttempts bounds the tries per channel, the first included.
	// Defaults to 4.
	MaxAttempts int
	// MaxElapsed bounds the time spent retrying one channel: no retry
	// starts after it. Defaults to 2 minutes.
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

	// QueueSize bounds the jobs waiting in the queue of Enqueue and
	// Decided. Defaults to 1024.
	QueueSize int
	// QueueWorkers is how many queued jobs run at once (each fanning out
	// to Workers channels). Defaults to 2.
	QueueWorkers int

	// Now and Sleep are the clock, for tests: Sleep waits d or until ctx
	// is done, and then returns ctx.Err(). Default to the real clock.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Result is the outcome of delivering one event to one channel, after
// any retries. It holds no secret.
type Result struct {
	OrgID       string      `json:"-"`
	ChannelID   string      `json:"channel_id"`
	ChannelName string      `json:"channel_name"`
	ChannelType ChannelType `json:"channel_type"`
	Event       EventType   `json:"event"`
	// ApprovalID is set for approval requests and their updates.
	ApprovalID string `json:"approval_id,omitempty"`
	// Op is "post" for a new message, "update" for a Slack message
	// rewritten with chat.update, "follow_up" for a Teams result card.
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
	// Err is the error of the last try, for errors.As; nil on success.
	Err error `json:"-"`
}

// Dispatcher delivers events to the channels of an organisation through
// a [Sender]: every enabled channel subscribed to the event's type, a
// bounded number at a time, each limited in rate and retried on
// transient failures. It can run deliveries in the background from a
// bounded queue (Enqueue), and bring every copy of an approval request
// up to date once it is decided (Decided, UpdatePosts).
//
// Its constructor starts no goroutine; the first Enqueue or Decided
// starts the queue's workers, and Close stops them. A Dispatcher is safe
// for concurrent use.
type Dispatcher struct {
	channels ChannelStore
	sender   Sender
	o        DispatcherOptions
	limits   *limiter
	rand     func() float64 // [0,1), for jitter
	copies   copyTracker

	mu      sync.Mutex
	queue   chan job
	started bool
	closed  bool
	workers sync.WaitGroup
	base    context.Context // parent of queued work; cancelled by Close on timeout
	cancel  context.CancelFunc
}

// NewDispatcher returns a Dispatcher reading channels from channels and
// delivering with sender (usually a [PlatformSender]). opts may be nil.
func NewDispatcher(channels ChannelStore, sender Sender, opts *DispatcherOptions) (*Dispatcher, error) {
	if channels == nil || sender == nil {
		return nil, errors.New("notify: NewDispatcher needs a channel store and a sender")
	}
	var o DispatcherOptions
	if opts != nil {
		o = *opts
	}
	defaults(&o.Workers, 8)
	defaults(&o.MaxAttempts, 4)
	defaults(&o.MaxElapsed, 2*time.Minute)
	defaults(&o.AttemptTimeout, 20*time.Second)
	defaults(&o.MaxRetryAfter, 30*time.Second)
	defaults(&o.BaseBackoff, 500*time.Millisecond)
	defaults(&o.MaxBackoff, 10*time.Second)
	defaults(&o.QueueSize, 1024)
	defaults(&o.QueueWorkers, 2)
	if o.SlackRates == nil {
		o.SlackRates = DefaultSlackRates()
	}
	if o.TeamsRates == nil {
		o.TeamsRates = DefaultTeamsRates()
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
	return &Dispatcher{
		channels: channels,
		sender:   sender,
		o:        o,
		limits:   newLimiter(),
		rand:     rand.Float64,
		queue:    make(chan job, o.QueueSize),
		base:     base,
		cancel:   cancel,
	}, nil
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

// Dispatch delivers ev to every enabled channel of orgID subscribed to
// ev's type and returns one [Result] per channel, in the store's order,
// once all are done (each is also passed to OnDelivery and logged). A
// failed delivery is a Result with OK false, not an error: Dispatch
// returns an error only when it could not start (an event of another
// organisation, an unsubscribable event type, a store failure). When ctx
// is cancelled, deliveries stop promptly and the unfinished ones come
// back failed. With [DispatcherOptions.Approvals] set, a copy of an
// approval request decided meanwhile is updated before Dispatch returns;
// that update is reported to OnDelivery and the logger, not in the
// returned slice.
func (d *Dispatcher) Dispatch(ctx context.Context, orgID string, ev Event) ([]Result, error) {
	if err := checkEvent(orgID, ev); err != nil {
		return nil, err
	}
	all, err := d.channels.ListChannels(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("notify: listing channels: %w", err)
	}
	t := ev.EventType()
	targets := make([]Channel, 0, len(all))
	for _, ch := range all {
		if ch.Enabled && ch.Subscribed(t) && (ch.OrgID == "" || ch.OrgID == orgID) {
			if ch.OrgID == "" {
				ch.OrgID = orgID
			}
			targets = append(targets, ch)
		}
	}
	return d.fanOut(ctx, len(targets), func(i int) Result {
		ch := targets[i]
		return d.deliver(ctx, ch, ev, "post", func(ctx context.Context) (Receipt, error) {
			return d.sender.Send(ctx, ch, ev)
		})
	}), nil
}

// checkEvent rejects events Dispatch and Enqueue cannot take.
func checkEvent(orgID string, ev Event) error {
	if ev == nil {
		return errors.New("notify: nil event")
	}
	switch ev.EventType() {
	case EventApprovalRequest, EventDriftAlert, EventAgentStatus:
	default:
		return fmt.Errorf("%w: %q", ErrNotSubscribable, ev.EventType())
	}
	if ar, ok := deref(ev).(ApprovalRequested); ok && ar.Request.OrgID != "" && ar.Request.OrgID != orgID {
		return ErrOrgMismatch
	}
	return nil
}

// fanOut runs deliver for 0..n-1 on at most Workers goroutines and
// returns the results in order.
func (d *Dispatcher) fanOut(ctx context.Context, n int, deliver func(i int) Result) []Result {
	results := make([]Result, n)
	workers := min(d.o.Workers, n)
	if workers <= 1 {
		for i := range n {
			results[i] = deliver(i)
		}
		return results
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				results[i] = deliver(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// deliver runs op for ch under the channel's rate limit, retrying
// transient failures, then records and reports the result.
func (d *Dispatcher) deliver(ctx context.Context, ch Channel, ev Event, opName string, op func(context.Context) (Receipt, error)) Result {
	res := Result{
		OrgID:       ch.OrgID,
		ChannelID:   ch.ID,
		ChannelName: ch.Name,
		ChannelType: ch.Type,
		Event:       ev.EventType(),
		ApprovalID:  approvalID(ev),
		Op:          opName,
	}
	key := limitKey(ch)
	start := d.o.Now()
	var err error
	for attempt := 1; ; attempt++ {
		if err = d.waitTurn(ctx, key, ch.Type); err != nil {
			break
		}
		res.Attempts = attempt
		actx, cancel := context.WithTimeout(ctx, d.o.AttemptTimeout)
		res.Receipt, err = op(actx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		wait, retry := d.retryAfter(attempt, err, d.o.Now().Sub(start))
		var de *DeliveryError
		if errors.As(err, &de) && de.RetryAfter > 0 && !d.o.DisableRateLimit {
			d.limits.block(key, d.o.Now().Add(min(de.RetryAfter, d.o.MaxRetryAfter)))
		}
		if !retry {
			break
		}
		if serr := d.o.Sleep(ctx, wait); serr != nil {
			err = serr
			break
		}
	}
	var (
		post  Post
		check *copyCheck
	)
	if err == nil {
		res.OK = true
		post, check = d.recordPost(ctx, ch, ev, res.Receipt)
	} else {
		res.Err = err
		res.Error, res.Code = describe(err)
	}
	d.report(ctx, res)
	if check != nil {
		d.catchUp(ctx, ch, post, check)
	}
	return res
}

// waitTurn waits for the channel's rate limit.
func (d *Dispatcher) waitTurn(ctx context.Context, key string, t ChannelType) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.o.DisableRateLimit {
		return nil
	}
	rates := d.o.SlackRates
	if t == Teams {
		rates = d.o.TeamsRates
	}
	now := d.o.Now()
	at := d.limits.reserve(key, rates, now)
	if wait := at.Sub(now); wait > 0 {
		return d.o.Sleep(ctx, wait)
	}
	return nil
}

// retryAfter decides whether try attempt's failure err is retried, and
// after how long, given the time already spent.
func (d *Dispatcher) retryAfter(attempt int, err error, elapsed time.Duration) (time.Duration, bool) {
	var de *DeliveryError
	if errors.As(err, &de) && de.Permanent {
		return 0, false
	}
	if attempt >= d.o.MaxAttempts {
		return 0, false
	}
	var wait time.Duration
	if de != nil && de.RetryAfter > 0 {
		if de.RetryAfter > d.o.MaxRetryAfter {
			return 0, false
		}
		wait = de.RetryAfter
	} else {
		wait = d.backoff(attempt)
	}
	if elapsed+wait > d.o.MaxElapsed {
		return 0, false
	}
	return wait, true
}

// backoff is the wait after failed try n (from 1): a random time between
// half and all of min(BaseBackoff × 2^(n-1), MaxBackoff).
func (d *Dispatcher) backoff(n int) time.Duration {
	w := d.o.BaseBackoff
	for i := 1; i < n && w < d.o.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.o.MaxBackoff)
	return w/2 + time.Duration(d.rand()*float64(w/2))
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

func approvalID(ev Event) string {
	switch e := deref(ev).(type) {
	case ApprovalRequested:
		return e.Request.ID
	case ApprovalDecided:
		return e.Request.ID
	}
	return ""
}

// recordPost stores where an approval request landed, even when ctx has
// just been cancelled: the message is out, and its copy must be
// updatable. With Approvals set, it returns the recorded post and its
// check, which catchUp must then end; otherwise a nil check.
func (d *Dispatcher) recordPost(ctx context.Context, ch Channel, ev Event, rc Receipt) (Post, *copyCheck) {
	ar, ok := deref(ev).(ApprovalRequested)
	if !ok || d.o.Posts == nil {
		return Post{}, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	p := Post{
		ApprovalID:  ar.Request.ID,
		OrgID:       ch.OrgID,
		ChannelID:   ch.ID,
		ChannelType: ch.Type,
		Receipt:     rc,
		PostedAt:    d.o.Now().UTC(),
	}
	var check *copyCheck
	if d.o.Approvals != nil {
		check = d.copies.begin(p) // before the record: see copyTracker
	}
	if err := d.o.Posts.RecordPost(ctx, p); err != nil {
		d.o.Logger.ErrorContext(ctx, "notify: could not record where an approval request was posted; this copy will not show the decision",
			"approval_id", p.ApprovalID, "org_id", p.OrgID, "channel_id", p.ChannelID, "err", err)
		if check != nil {
			d.copies.end(check, false, time.Time{})
		}
		return p, nil
	}
	return p, check
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
	var de *DeliveryError
	if res.Err != nil && !errors.As(res.Err, &de) && res.Code == "error" {
		// A custom Sender's own error: logged as is, as the Sender
		// contract says; PlatformSender never returns one.
		attrs = append(attrs, slog.String("err", res.Err.Error()))
	}
	d.o.Logger.LogAttrs(ctx, slog.LevelWarn, "notify: delivery failed", attrs...)
}
