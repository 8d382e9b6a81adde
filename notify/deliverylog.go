package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/jobq"
)

// The deliveries log, as the in-memory queue writes it (see
// [DispatcherOptions.Deliveries]): each channel job (post, update,
// follow_up) is saved as a pending [Delivery] when it is created, and
// again at the end of each attempt. Saving never decides a delivery: a
// store error is logged, and the job goes on.

// deliverySaveTimeout bounds one save of the deliveries log.
const deliverySaveTimeout = 5 * time.Second

// retryData is the Delivery.Retry of a channel job: its kind and the
// plain arguments the durable queue would store for it (IDs, the event
// of a drift alert or agent status change), never a secret.
type retryData struct {
	Kind string    `json:"kind"`
	Args jobq.Args `json:"args"`
}

// logged reports whether the jobs of kind k go to the deliveries log:
// those that deliver to a channel.
func (k jobKind) logged() bool {
	return k == jobPost || k == jobUpdate || k == jobFollowUp
}

func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// logCreated saves each channel job of jobs as a pending delivery.
func (d *Dispatcher) logCreated(jobs ...*job) {
	if d.o.Deliveries == nil {
		return
	}
	now := d.o.Now().UTC()
	for _, j := range jobs {
		if !j.kind.logged() {
			continue
		}
		enc, err := j.encode()
		if err != nil {
			d.o.Logger.Error("notify: a delivery cannot be logged; it is made all the same",
				"org_id", j.orgID, "channel_id", j.ch.ID, "op", string(j.kind), "err", scrub(err.Error(), j.ch.Config))
			continue
		}
		raw, _ := json.Marshal(retryData{Kind: enc.Kind, Args: enc.Args})
		res := j.result()
		j.log = &Delivery{
			ID: newDeliveryID(), OrgID: j.orgID, ChannelID: j.ch.ID, Event: res.Event, ApprovalID: res.ApprovalID,
			Op: string(j.kind), Status: deliveryPending, CreatedAt: now, UpdatedAt: now, Retry: raw,
		}
		d.saveDelivery(j, *j.log)
	}
}

// logAttempt saves the delivery of j at the end of an attempt (or of its
// last one, with final): delivered when err is nil, else failed (final)
// or pending with the failure's reason (a retry follows). before is
// j.attempts before the attempt.
func (d *Dispatcher) logAttempt(j *job, before int, err error, final bool) {
	l := j.log
	if l == nil {
		return
	}
	now := d.o.Now().UTC()
	l.Attempts += j.attempts - before
	l.UpdatedAt = now
	if err == nil {
		l.Status, l.Reason, l.Code, l.DeliveredAt = deliveryDelivered, "", "", &now
	} else {
		l.Status = deliveryPending
		if final {
			l.Status = deliveryFailed
		}
		l.Reason, l.Code = describe(err)
		if l.FirstFailedAt == nil {
			l.FirstFailedAt = &now
		}
	}
	d.saveDelivery(j, *l)
}

// saveDelivery saves l, logging a failure. It outlives Close's
// cancellation, so that a cancelled job is logged as such.
func (d *Dispatcher) saveDelivery(j *job, l Delivery) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.base), deliverySaveTimeout)
	defer cancel()
	if err := d.o.Deliveries.SaveDelivery(ctx, l); err != nil {
		d.o.Logger.ErrorContext(ctx, "notify: could not save a delivery in the deliveries log; the delivery goes on",
			"org_id", l.OrgID, "channel_id", l.ChannelID, "delivery_id", l.ID, "op", l.Op, "status", l.Status,
			"err", scrub(err.Error(), j.ch.Config))
	}
}

// Retry queues the failed delivery dl (of the deliveries log,
// [DispatcherOptions.Deliveries]) again, as a fresh job with the full
// retry policy; its signature is [SettingsOptions.Retry]'s, which hosts
// set to it. It reads the delivery again by dl.OrgID and dl.ID and
// returns an error wrapping [ErrNotFound] when it is gone, and one
// wrapping [ErrConflict] when it is no longer "failed"; otherwise it
// saves it as "pending" (its Reason and Code cleared; Attempts and
// FirstFailedAt kept) and queues the job, which reads the channel and
// the approval request as they are now. A job that cannot be made any
// more (its channel was disabled, its request deleted, or a post's
// request decided or expired) is not queued: the delivery stays
// "failed" with that reason, and Retry returns nil. Concurrent calls
// for one delivery queue it once: within this Dispatcher on the
// in-memory queue; on the durable queue across every process sharing the
// database, since the change from "failed" to "pending" is one
// conditional update, in the transaction inserting the new job, that
// only one caller wins (the others get [ErrConflict]).
//
// Retry needs DispatcherOptions.Deliveries.
func (d *Dispatcher) Retry(ctx context.Context, dl Delivery) error {
	if d.o.Deliveries == nil {
		return errors.New("notify: Retry needs DispatcherOptions.Deliveries")
	}
	if d.dq == nil {
		// In memory, the read-check-save below is made atomic by the lock.
		d.retryMu.Lock()
		defer d.retryMu.Unlock()
	}
	cur, err := d.o.Deliveries.GetDelivery(ctx, dl.OrgID, dl.ID)
	if err != nil {
		return err
	}
	if cur.OrgID != dl.OrgID || cur.ID != dl.ID {
		return fmt.Errorf("notify: delivery %q: %w", dl.ID, ErrNotFound)
	}
	if cur.Status != deliveryFailed {
		return fmt.Errorf("notify: delivery %q is %s, not failed: %w", dl.ID, cur.Status, ErrConflict)
	}
	var rd retryData
	if err := json.Unmarshal(cur.Retry, &rd); err != nil || !jobKind(rd.Kind).logged() ||
		rd.Args.OrgID != cur.OrgID || rd.Args.ChannelID != cur.ChannelID {
		return fmt.Errorf("notify: delivery %q has no retry data this dispatcher can use", dl.ID)
	}
	j, out, ok := d.decode(ctx, jobq.Attempt{Job: jobq.Job{Kind: rd.Kind, Args: rd.Args}})
	if ok && j.kind == jobPost && j.request.ID != "" && j.request.Status != approval.StatusPending {
		ok, out = false, jobq.Outcome{Err: errNotPending, Permanent: true}
	}
	if !ok {
		if !out.Permanent {
			return out.Err
		}
		// It cannot be made any more: say why, and leave it failed.
		cur.Reason, cur.Code = describe(out.Err)
		cur.UpdatedAt = d.o.Now().UTC()
		return d.o.Deliveries.SaveDelivery(ctx, cur)
	}
	if d.dq != nil {
		return d.requeue(ctx, cur, rd)
	}
	failed := cur
	cur.Status, cur.Reason, cur.Code = deliveryPending, "", ""
	cur.UpdatedAt = d.o.Now().UTC()
	if err := d.o.Deliveries.SaveDelivery(ctx, cur); err != nil {
		return err
	}
	j.log = &cur
	if err := d.q.push(false, j); err != nil {
		// Not queued: it stays failed.
		if serr := d.o.Deliveries.SaveDelivery(context.WithoutCancel(ctx), failed); serr != nil {
			d.o.Logger.ErrorContext(ctx, "notify: could not save a delivery back as failed after its retry could not be queued",
				"org_id", failed.OrgID, "delivery_id", failed.ID, "err", scrub(serr.Error(), j.ch.Config))
		}
		return err
	}
	return nil
}

// requeue is Retry on the durable queue: the delivery cur goes from
// failed to pending and its new job is inserted in one transaction,
// unless another caller did it first. The new job has the delivery's ID
// and the time of the retry in its Args, so that it is not taken for the
// failed one when that was a unique job (a copy's update).
func (d *Dispatcher) requeue(ctx context.Context, cur Delivery, rd retryData) error {
	rq, ok := d.dq.(jobq.Requeuer)
	if !ok {
		return errors.New("notify: the store's durable queue cannot retry deliveries")
	}
	now := d.o.Now().UTC()
	a := rd.Args
	a.DeliveryID, a.Requeued = cur.ID, now.UnixNano()
	job := jobq.Job{Kind: rd.Kind, Args: a, Unique: rd.Kind != string(jobPost)}
	won, err := rq.Requeue(ctx, cur.OrgID, cur.ID, now, job)
	if err != nil {
		return err
	}
	if !won {
		return fmt.Errorf("notify: delivery %q is no longer failed: %w", cur.ID, ErrConflict)
	}
	return nil
}
