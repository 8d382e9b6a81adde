package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/jobq"
)

// The durable path, opt-in: with DispatcherOptions.Durable set and a
// ChannelStore that owns a durable queue (the SQL stores: store/sqlite,
// store/postgres), the Dispatcher uses it instead of its in-memory queue:
//
//	Service.Create → store.CreateApproval: request + fan_out job, one tx
//	Service.Review → store.DecideApproval: decision + decided job, one tx
//	  (Service.Expire and ExpireDue too: the expiry + decided job)
//	fan_out job    → one post job per channel, queued in the tx completing it
//	post job       → send; copy recorded + job completed in one tx (and the
//	                 copy's update queued in it if the request was decided)
//	decided job    → one update/follow_up job per copy (unique per copy)
//	Sweep          → a periodic job (DispatcherOptions.Sweep), once per tick
//
// Enqueue and FollowUp insert the same hand-off jobs again as unique jobs,
// so calling them after Create or a decision, as hosts do, is harmless.
//
// What is not in the decision's transaction, and so may be lost by a
// crash right after DecideApproval commits (each is written or queued
// just after it, in a transaction of its own):
//
//   - the audit entry: approval.Service writes it after DecideApproval
//     returns (a failure to write it is logged, complete, at error level);
//   - the answer to the click's response_url (replace, ephemeral jobs):
//     queued by FollowUp, which the Slack handler calls after the
//     decision. The copies' chat.update and Teams follow-ups are not
//     affected (they come from the decided job), so a bot-posted Slack
//     message still shows the decision; a message posted through an
//     incoming webhook, which only the response_url can change, keeps its
//     buttons, and a second click is told the request is decided.
//
// The deliveries log (DispatcherOptions.Deliveries) is written in the
// jobs' own transactions: a delivery is created pending in the
// transaction inserting its job, marked delivered in the one completing
// it; a failed try is recorded right after it (River records the failure
// itself in a transaction of its own), and a try cut short by a stop is
// not recorded at all: it is made again.
//
// A job holds IDs and plain data (jobq.Args), never a channel secret: each
// try reads the channel and the request again, so a retry shows the current
// state. A post whose request was decided or has expired by then is not
// made (it would offer buttons on a closed request): it ends with the
// permanent code "not_pending". A click's response_url is the one
// credential in a job, sealed at rest with the store's SecretKey when set.

// Durable defaults: retried over hours, not minutes.
const (
	durableMaxAttempts = 200
	durableMaxElapsed  = 24 * time.Hour
	// Spacing of the rate limit shared through the database: Slack allows
	// about one message per second per channel, Teams four.
	durableSlackInterval = 1050 * time.Millisecond
	durableTeamsInterval = 260 * time.Millisecond
	// A Teams conversation reached through the bot allows 7 per second,
	// 8 per 2 seconds, 60 per 30 seconds and 1,800 per hour: one message
	// every 2 seconds is the one spacing that keeps within all four (the
	// hourly limit is exactly 1 per 2 s), since a single interval cannot
	// allow bursts.
	durableTeamsBotInterval = 2 * time.Second
)

var errNotPending = &DeliveryError{
	Reason:    "the request was decided or expired before it could be posted; it was not posted",
	Code:      "not_pending",
	Permanent: true,
}

// encode returns the stored form of j.
func (j *job) encode() (jobq.Job, error) {
	a := jobq.Args{OrgID: j.orgID}
	out := jobq.Job{Kind: string(j.kind)}
	switch j.kind {
	case jobFanOut, jobPost:
		if ar, ok := deref(j.event).(ApprovalRequested); ok {
			if j.kind == jobFanOut {
				return jobq.ApprovalFanOut(j.orgID, ar.Request.ID), nil
			}
			a.ApprovalID, a.EventType = ar.Request.ID, string(EventApprovalRequest)
		} else {
			raw, err := json.Marshal(deref(j.event))
			if err != nil {
				return jobq.Job{}, fmt.Errorf("notify: encoding an event: %w", err)
			}
			a.EventType, a.Event = string(j.event.eventType()), raw
		}
		a.ChannelID = j.ch.ID
	case jobDecided:
		return jobq.DecidedJob(j.orgID, j.request.ID), nil
	case jobUpdate, jobFollowUp:
		a.ChannelID, a.ApprovalID = j.ch.ID, j.post.ApprovalID
		a.SlackChannel, a.SlackTS = j.post.Receipt.SlackChannel, j.post.Receipt.SlackTS
		a.TeamsActivityID = j.post.Receipt.TeamsActivityID
		out.Unique = true
	case jobReplace, jobEphemeral:
		a.ApprovalID, a.Warning, a.NotAfter = j.request.ID, j.warning, j.notAfter.UTC()
		out.Secret = j.responseURL
	}
	out.Args = a
	return out, nil
}

// encodeAll returns the stored form of jobs, each channel job with its
// new entry in the deliveries log when the Dispatcher keeps one (see
// withLog).
func (d *Dispatcher) encodeAll(jobs []*job) ([]jobq.Job, error) {
	out := make([]jobq.Job, 0, len(jobs))
	for _, j := range jobs {
		e, err := j.encode()
		if err != nil {
			return nil, err
		}
		out = append(out, d.withLog(j, e))
	}
	return out, nil
}

// withLog gives e, the stored form of the channel job j, its delivery:
// an ID in its Args, and its new entry in the deliveries log, which the
// queue saves pending in the transaction inserting the job. A unique job
// (a copy's update) gets an ID derived from its other Args, so that the
// decision and the post's catch-up, which both queue it, share one job
// and one delivery.
func (d *Dispatcher) withLog(j *job, e jobq.Job) jobq.Job {
	if d.o.Deliveries == nil || !j.kind.logged() {
		return e
	}
	if e.Unique {
		raw, _ := json.Marshal(struct {
			Kind string    `json:"kind"`
			Args jobq.Args `json:"args"`
		}{e.Kind, e.Args})
		sum := sha256.Sum256(raw)
		e.Args.DeliveryID = hex.EncodeToString(sum[:16])
	} else {
		e.Args.DeliveryID = newDeliveryID()
	}
	raw, _ := json.Marshal(retryData{Kind: e.Kind, Args: e.Args})
	res := j.result()
	e.Log = &jobq.Log{OrgID: j.orgID, ID: e.Args.DeliveryID, At: d.o.Now().UTC(),
		ChannelID: j.ch.ID, Event: string(res.Event), ApprovalID: res.ApprovalID, Op: string(j.kind), Retry: raw}
	return e
}

// tryLog is the end of a try of a, for the deliveries log: its delivery's
// new status, the reason of err, and the attempts made (1 when the
// platform was called). Nil for a job without a delivery.
func (d *Dispatcher) tryLog(a jobq.Attempt, status string, err error, attempts int) *jobq.Log {
	id := a.Job.Args.DeliveryID
	if d.o.Deliveries == nil || id == "" || !jobKind(a.Job.Kind).logged() {
		return nil
	}
	l := &jobq.Log{OrgID: a.Job.Args.OrgID, ID: id, At: d.o.Now().UTC(), Status: status, Attempts: attempts}
	if err != nil {
		l.Reason, l.Code = describe(err)
	}
	return l
}

// push hands jobs to the durable queue, outside any transaction.
func (d *Dispatcher) pushDurable(jobs ...*job) error {
	enc, err := d.encodeAll(jobs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.dq.Push(ctx, nil, enc...)
}

// decode rebuilds the job a stored one stands for, reading its channel
// and request as they are now. A false ok ends the job with out.
func (d *Dispatcher) decode(ctx context.Context, a jobq.Attempt) (j *job, out jobq.Outcome, ok bool) {
	s := a.Job.Args
	j = &job{kind: jobKind(a.Job.Kind), orgID: s.OrgID, responseURL: a.Job.Secret, warning: s.Warning, notAfter: s.NotAfter}
	fail := func(err error) (*job, jobq.Outcome, bool) {
		var de *DeliveryError
		return nil, jobq.Outcome{Err: err, Permanent: errors.As(err, &de) && de.Permanent}, false
	}
	if s.ApprovalID != "" {
		if d.approvals == nil {
			return fail(&DeliveryError{Reason: "the dispatcher cannot read approval requests", Code: "no_approvals", Permanent: true})
		}
		r, err := d.approvals.GetApproval(ctx, s.OrgID, s.ApprovalID)
		switch {
		case errors.Is(err, approval.ErrNotFound):
			return fail(&DeliveryError{Reason: "the approval request no longer exists", Code: "not_found", Permanent: true})
		case err != nil:
			return fail(err)
		}
		j.request = r
	}
	switch j.kind {
	case jobFanOut, jobPost:
		switch EventType(s.EventType) {
		case EventApprovalRequest:
			j.event = ApprovalRequested{Request: j.request}
		case EventDriftAlert:
			var e DriftAlert
			if err := json.Unmarshal(s.Event, &e); err != nil {
				return fail(&DeliveryError{Reason: "a stored event cannot be read", Code: "bad_job", Permanent: true})
			}
			j.event = e
		case EventAgentStatus:
			var e AgentStatusChanged
			if err := json.Unmarshal(s.Event, &e); err != nil {
				return fail(&DeliveryError{Reason: "a stored event cannot be read", Code: "bad_job", Permanent: true})
			}
			j.event = e
		default:
			return fail(&DeliveryError{Reason: "a stored job has an unknown event type", Code: "bad_job", Permanent: true})
		}
	case jobUpdate, jobFollowUp:
		j.post = Post{ApprovalID: s.ApprovalID, OrgID: s.OrgID, ChannelID: s.ChannelID,
			Receipt: Receipt{SlackChannel: s.SlackChannel, SlackTS: s.SlackTS, TeamsActivityID: s.TeamsActivityID}}
	}
	if s.ChannelID != "" && j.kind != jobFanOut {
		ch, err := d.channels.GetChannel(ctx, s.OrgID, s.ChannelID)
		switch {
		case errors.Is(err, ErrNotFound):
			return fail(&DeliveryError{Reason: "the channel was deleted", Code: "channel_deleted", Permanent: true})
		case err != nil:
			return fail(err)
		}
		ch.OrgID = s.OrgID
		j.ch, j.post.ChannelType = ch, ch.Type
		if !ch.Enabled && j.kind != jobUpdate {
			return fail(&DeliveryError{Reason: "the channel was disabled", Code: "channel_disabled", Permanent: true})
		}
	}
	return j, jobq.Outcome{}, true
}

// runDurable makes one try of a stored job, for the durable queue's
// worker, applying the one retry policy: permanent errors end the job,
// a Retry-After snoozes it (no attempt spent), other failures are retried
// with the queue's backoff until MaxAttempts or MaxElapsed (the horizon,
// measured from the job's creation).
func (d *Dispatcher) runDurable(ctx context.Context, a jobq.Attempt) jobq.Outcome {
	if a.Job.Kind == jobq.Sweep {
		return d.runSweepJob(ctx)
	}
	j, out, ok := d.decode(ctx, a)
	if !ok {
		if ctx.Err() != nil {
			return jobq.Outcome{Err: ctx.Err()} // stopping: the job goes back
		}
		status := deliveryPending
		if out.Permanent || d.givesUp(a) {
			out.Permanent, status = true, deliveryFailed
			out.Done = func(err error) { d.reportStored(ctx, a, err) }
		}
		out.Log = d.tryLog(a, status, out.Err, 0)
		return out
	}
	j.attempts = a.Number
	var (
		rc   Receipt
		err  error
		key  string
		sent int // 1 once the try reaches the platform's call
	)
	switch j.kind {
	case jobFanOut, jobDecided:
		fctx, cancel := context.WithTimeout(ctx, fanOutTimeout)
		defer cancel()
		var jobs []*job
		if j.kind == jobFanOut && j.request.ID != "" && j.request.Status != approval.StatusPending {
			return jobq.Outcome{} // decided or expired before its posts: none is made
		}
		if j.kind == jobFanOut {
			jobs, err = d.postJobs(fctx, j.orgID, j.event)
		} else if d.o.Posts != nil && j.request.Status != approval.StatusPending {
			jobs, err = d.decidedJobs(fctx, j.request)
		}
		if err == nil {
			var enc []jobq.Job
			if enc, err = d.encodeAll(jobs); err == nil {
				return jobq.Outcome{Push: enc}
			}
		}
	default:
		if j.kind == jobPost && j.request.ID != "" && j.request.Status != approval.StatusPending {
			err = errNotPending
			break
		}
		if j.kind == jobReplace || j.kind == jobEphemeral {
			if !j.notAfter.IsZero() && !d.o.Now().Before(j.notAfter) {
				err = &DeliveryError{Reason: "the click's response_url has expired (Slack accepts one for 30 minutes)", Code: "expired_url", Permanent: true}
				break
			}
		} else if !d.o.DisableRateLimit {
			key = limitKey(j.ch)
			interval := durableSlackInterval
			if j.ch.Type == Teams {
				interval = durableTeamsInterval
			}
			if j.ch.usesTeamsBot() {
				interval = durableTeamsBotInterval
			}
			wait, terr := a.Turn(ctx, key, interval)
			if terr != nil {
				return jobq.Outcome{Err: terr}
			}
			if wait > 0 {
				return jobq.Outcome{Snooze: wait}
			}
		}
		sent = 1
		rc, err = d.send(ctx, j)
	}
	if err == nil {
		return d.succeeded(ctx, a, j, rc)
	}
	if ctx.Err() != nil {
		return jobq.Outcome{Err: ctx.Err()} // stopping: the job goes back
	}
	out = jobq.Outcome{Err: err}
	var de *DeliveryError
	isDE := errors.As(err, &de)
	switch {
	case isDE && de.Permanent, d.givesUp(a):
		out.Permanent = true
	case isDE && de.RetryAfter > 0:
		if time.Since(a.CreatedAt)+de.RetryAfter > d.o.MaxElapsed {
			out.Permanent = true
			break
		}
		out.Snooze, out.HoldKey, out.HoldUntil = de.RetryAfter, key, time.Now().Add(de.RetryAfter)
	default:
		// A server error or no answer: hold the destination for the retry's
		// backoff, so its other jobs wait rather than fail too.
		out.HoldKey = key
	}
	status := deliveryPending
	if out.Permanent {
		status = deliveryFailed
		out.Done = func(error) { d.finishStored(ctx, j, Receipt{}, err) }
	}
	out.Log = d.tryLog(a, status, err, sent)
	return out
}

// runSweepJob is a try of the periodic sweep job (DispatcherOptions.Sweep).
// A failed sweep is logged and the job completes all the same: the next
// tick is its retry. Only a stop (or the queue's JobTimeout) puts it
// back, for the next start to finish.
func (d *Dispatcher) runSweepJob(ctx context.Context) jobq.Outcome {
	if d.o.Sweep == nil {
		return jobq.Outcome{} // a replica without a Sweep: nothing to do
	}
	d.sweep(ctx)
	if err := ctx.Err(); err != nil {
		return jobq.Outcome{Err: err}
	}
	return jobq.Outcome{}
}

// givesUp reports whether the retries of a are over.
func (d *Dispatcher) givesUp(a jobq.Attempt) bool {
	return a.Number >= d.o.MaxAttempts || time.Since(a.CreatedAt) > d.o.MaxElapsed
}

// succeeded is the Outcome of a successful try: for a post of an
// approval request, the copy to record and, should the request have been
// decided meanwhile, the update of that copy.
func (d *Dispatcher) succeeded(ctx context.Context, a jobq.Attempt, j *job, rc Receipt) jobq.Outcome {
	out := jobq.Outcome{Done: func(error) { d.finishStored(ctx, j, rc, nil) },
		Log: d.tryLog(a, deliveryDelivered, nil, 1)}
	ar, ok := deref(j.event).(ApprovalRequested)
	if j.kind != jobPost || !ok || d.o.Posts == nil {
		return out
	}
	raw, _ := json.Marshal(rc)
	p := Post{ApprovalID: ar.Request.ID, OrgID: j.orgID, ChannelID: j.ch.ID, ChannelType: j.ch.Type, Receipt: rc, PostedAt: d.o.Now().UTC()}
	out.Copy = &jobq.Copy{ApprovalID: p.ApprovalID, OrgID: p.OrgID, ChannelID: p.ChannelID,
		ChannelType: string(p.ChannelType), Receipt: raw, PostedAt: p.PostedAt}
	if kind, ok := updateKind(j.ch, p); ok {
		uj := &job{kind: kind, orgID: j.orgID, ch: j.ch, post: p, request: ar.Request}
		if e, err := uj.encode(); err == nil {
			out.IfDecided = []jobq.Job{d.withLog(uj, e)}
		}
	}
	return out
}

// finishStored reports the final result of a stored job.
func (d *Dispatcher) finishStored(ctx context.Context, j *job, rc Receipt, err error) {
	if d.finishExpansion(ctx, j, err) {
		return
	}
	res := j.result()
	if err == nil {
		res.OK, res.Receipt = true, rc
	} else {
		res.Err = err
		res.Error, res.Code = describe(err)
	}
	d.report(context.WithoutCancel(ctx), res)
}

// reportStored reports a stored job that could not even be read back.
func (d *Dispatcher) reportStored(ctx context.Context, a jobq.Attempt, err error) {
	s := a.Job.Args
	res := Result{OrgID: s.OrgID, ChannelID: s.ChannelID, Op: a.Job.Kind, Event: EventType(s.EventType),
		ApprovalID: s.ApprovalID, Attempts: a.Number, Err: err}
	if res.Event == "" {
		res.Event = EventApprovalRequest
	}
	if a.Job.Kind == jobq.FanOut || a.Job.Kind == jobq.Decided {
		d.o.Logger.ErrorContext(ctx, "notify: could not queue the deliveries of "+a.Job.Kind+" work; they are not made",
			"org_id", s.OrgID, "approval_id", s.ApprovalID, "err", err)
		return
	}
	res.Error, res.Code = describe(err)
	d.report(context.WithoutCancel(ctx), res)
}
