package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/chatnotify/chatnotify/approval"
)

// job is one unit of queued work: an event to dispatch, or a decided
// request whose copies to update.
type job struct {
	orgID   string
	ev      Event
	decided *approval.Request
}

// Enqueue queues ev for delivery to orgID's channels in the background,
// as Dispatch would, and returns at once. Results go to OnDelivery and
// the logger. It returns ErrQueueFull when QueueSize jobs are already
// waiting (the event is not queued: nothing is ever dropped silently),
// ErrClosed after Close, and the errors of Dispatch for an event it
// cannot take. The first call starts the queue's workers; Close stops
// them.
func (d *Dispatcher) Enqueue(orgID string, ev Event) error {
	if err := checkEvent(orgID, ev); err != nil {
		return err
	}
	return d.push(job{orgID: orgID, ev: ev})
}

// Decided brings every copy of the decided request r up to date in the
// background; see [Dispatcher.UpdatePosts]. Its signature fits
// approval.Options.OnDecided, which hosts set to it:
//
//	svc, _ := approval.NewService(store, store, &approval.Options{OnDecided: d.Decided})
//
// It returns at once. When the queue is full or closed the update is not
// made, and that is logged at error level. ctx is not used for the
// background work, which outlives the reviewer's request.
func (d *Dispatcher) Decided(ctx context.Context, r approval.Request) {
	if r.Status == approval.StatusPending || r.ID == "" {
		return
	}
	if err := d.push(job{orgID: r.OrgID, decided: &r}); err != nil {
		d.o.Logger.ErrorContext(ctx, "notify: could not queue the update of an approval request's messages; they will keep showing buttons",
			"approval_id", r.ID, "org_id", r.OrgID, "status", r.Status, "err", err)
	}
}

func (d *Dispatcher) push(j job) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if !d.started {
		d.started = true
		for range d.o.QueueWorkers {
			d.workers.Go(d.work)
		}
	}
	select {
	case d.queue <- j:
		return nil
	default:
		return ErrQueueFull
	}
}

// work runs queued jobs until the queue is closed and empty.
func (d *Dispatcher) work() {
	for j := range d.queue {
		ctx := d.base
		if j.decided != nil {
			if _, err := d.UpdatePosts(ctx, *j.decided); err != nil {
				d.o.Logger.ErrorContext(ctx, "notify: could not update an approval request's messages",
					"approval_id", j.decided.ID, "org_id", j.orgID, "err", err)
			}
			continue
		}
		if _, err := d.Dispatch(ctx, j.orgID, j.ev); err != nil {
			d.o.Logger.ErrorContext(ctx, "notify: queued event could not be dispatched",
				"org_id", j.orgID, "event", j.ev.EventType(), "approval_id", approvalID(j.ev), "err", err)
		}
	}
}

// Close stops accepting jobs (Enqueue returns ErrClosed from then on)
// and waits for the queued and in-flight ones to finish. If ctx ends
// first, it cancels them (each unfinished delivery is reported as
// cancelled through OnDelivery and the logger) and returns ctx.Err().
// Close is safe to call more than once.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.queue)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		return ctx.Err()
	}
}

// QueueLen returns how many jobs are waiting in the queue (not counting
// those being worked on).
func (d *Dispatcher) QueueLen() int { return len(d.queue) }

// errNoPosts is returned by UpdatePosts without a PostStore.
var errNoPosts = errors.New("notify: the dispatcher has no PostStore, so it cannot find the copies of a request")

// UpdatePosts shows the decision on r on every copy of it recorded in
// the PostStore, and returns one [Result] per copy it acted on:
//
//   - a Slack message posted with a bot token is rewritten in place with
//     chat.update (through a Sender that implements [MessageUpdater]):
//     the result replaces the buttons;
//   - a Teams channel gets a short follow-up result card, since cards
//     sent through webhooks cannot be edited (unless the channel has
//     since been disabled);
//   - a Slack message posted through an incoming webhook cannot be
//     edited at all, and is left as it is.
//
// Copies whose channel has since been deleted are skipped, and so is,
// once, a copy the dispatcher has already brought up to date right after
// recording it (see [DispatcherOptions.Approvals]). Each update is rate
// limited and retried like a delivery. Decided calls it in the
// background; hosts may call it directly.
func (d *Dispatcher) UpdatePosts(ctx context.Context, r approval.Request) ([]Result, error) {
	if d.o.Posts == nil {
		return nil, errNoPosts
	}
	posts, err := d.o.Posts.ListPosts(ctx, r.ID)
	if err != nil {
		return nil, fmt.Errorf("notify: listing posts: %w", err)
	}
	ev := ApprovalDecided{Request: r}
	type task struct {
		ch Channel
		p  Post
	}
	var tasks []task
	for _, p := range posts {
		if r.OrgID != "" && p.OrgID != r.OrgID {
			continue
		}
		ch, err := d.channels.GetChannel(ctx, p.OrgID, p.ChannelID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("notify: reading channel: %w", err)
		}
		if ch.OrgID == "" {
			ch.OrgID = p.OrgID
		}
		if d.updatable(ch, p) {
			tasks = append(tasks, task{ch, p})
		}
	}
	// Only now that nothing can fail: a copy taken over from catchUp
	// must be updated here.
	tasks = slices.DeleteFunc(tasks, func(t task) bool { return !d.copies.visit(t.p) })
	return d.fanOut(ctx, len(tasks), func(i int) Result {
		return d.updateCopy(ctx, tasks[i].ch, tasks[i].p, ev)
	}), nil
}
