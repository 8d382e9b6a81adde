package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// jobKind is what a job does. Each kind is one operation on one
// destination, except the two fan-out kinds, which hand work over: they
// read the store and queue one job per destination. A durable queue maps
// each kind to one job kind of its engine (a River job's Kind), with the
// exported fields of [job] as its arguments.
type jobKind string

const (
	// jobFanOut: an event for an organisation. Lists its enabled
	// channels subscribed to the event and queues one jobPost each.
	jobFanOut jobKind = "fan_out"
	// jobDecided: a decided request. Lists its recorded copies (of its
	// organisation only) and queues one jobUpdate or jobFollowUp each.
	jobDecided jobKind = "decided"
	// jobPost: post an event to one channel, record the copy, and catch
	// up a decision made meanwhile.
	jobPost jobKind = "post"
	// jobUpdate: rewrite one copy in place: a Slack bot message with
	// chat.update, a Teams bot card with a PUT of its activity.
	jobUpdate jobKind = "update"
	// jobFollowUp: send one Teams channel the result card.
	jobFollowUp jobKind = "follow_up"
	// jobReplace: replace the clicked Slack message through its
	// response_url with the request's result.
	jobReplace jobKind = "replace"
	// jobEphemeral: show a warning to the clicker only, through the
	// click's response_url.
	jobEphemeral jobKind = "ephemeral"
)

// responseURLLife is how long Slack accepts messages on a response_url.
const responseURLLife = 30 * time.Minute

// fanOutTimeout bounds the store reads of one fan-out.
const fanOutTimeout = 10 * time.Second

// job is one unit of queued work. Its data fields are plain values a
// durable queue can store (channel and request IDs, the event, the
// receipt): the channel itself (with its secrets) is what such a queue
// reads again by ID when the job runs; in memory it is carried along.
type job struct {
	kind        jobKind
	orgID       string
	ch          Channel          // post, update, follow_up: the destination
	event       Event            // fan_out, post
	request     approval.Request // decided, update, follow_up, replace: the request as decided
	post        Post             // update, follow_up: the copy to bring up to date
	responseURL string           // replace, ephemeral: a credential, never logged
	warning     string           // ephemeral
	notAfter    time.Time        // replace, ephemeral: when the response_url stops working

	// Run state, in memory only.
	catchUp  bool      // an update queued by catchUp: forget the copy if it fails
	attempts int       // tries made
	started  time.Time // first try
	log      *Delivery // its entry in the deliveries log; nil when not logged
}

// destination names where j delivers, so that the queue runs one job per
// destination at a time, in order: the destination of the channel (two
// channels posting to one Slack channel or webhook share it), the
// response_url, or, for a fan-out, its organisation, so that an
// organisation's events reach each channel in the order they were
// handed over.
func (j *job) destination() string {
	switch j.kind {
	case jobPost, jobUpdate, jobFollowUp:
		return limitKey(j.ch)
	case jobReplace, jobEphemeral:
		sum := sha256.Sum256([]byte(j.responseURL))
		return "response_url:" + hex.EncodeToString(sum[:12])
	}
	return "org:" + j.orgID
}

// result returns the Result of j, without its outcome.
func (j *job) result() Result {
	res := Result{OrgID: j.orgID, Op: string(j.kind), Event: EventApprovalRequest, ApprovalID: j.request.ID, Attempts: j.attempts}
	switch j.kind {
	case jobPost:
		res.Event, res.ApprovalID = j.event.eventType(), approvalID(j.event)
		fallthrough
	case jobUpdate, jobFollowUp:
		res.ChannelID, res.ChannelName, res.ChannelType = j.ch.ID, j.ch.Name, j.ch.Type
	case jobReplace, jobEphemeral:
		res.ChannelType = Slack
	}
	return res
}

func approvalID(ev Event) string {
	if e, ok := deref(ev).(ApprovalRequested); ok {
		return e.Request.ID
	}
	return ""
}

// run makes one try of j, on a queue worker, and returns when to try it
// again (retry true), or reports its final outcome. Every kind of job
// goes through the one retry policy of [Dispatcher.retryAfter].
func (d *Dispatcher) run(j *job) (wait time.Duration, retry bool) {
	ctx := d.base
	if j.attempts == 0 {
		j.started = d.o.Now()
	}
	before := j.attempts
	var rc Receipt
	var err error
	switch j.kind {
	case jobFanOut, jobDecided:
		// Even when Close has cancelled the work, an accepted event is
		// expanded, so that each of its deliveries is reported (as
		// cancelled) rather than dropped.
		j.attempts++
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fanOutTimeout)
		err = d.fanOut(fctx, j)
		cancel()
	default:
		rc, err = d.try(ctx, j)
	}
	if err != nil && ctx.Err() == nil {
		var de *DeliveryError
		if errors.As(err, &de) && de.RetryAfter > 0 && !d.o.DisableRateLimit && j.kind != jobReplace && j.kind != jobEphemeral {
			d.limits.block(limitKey(j.ch), d.o.Now().Add(min(de.RetryAfter, d.o.MaxRetryAfter)))
		}
		if wait, retry = d.retryAfter(j.attempts, err, d.o.Now().Sub(j.started)); retry {
			d.logAttempt(j, before, err, false)
			return wait, true
		}
	}
	d.logAttempt(j, before, err, true)
	d.finish(ctx, j, rc, err)
	return 0, false
}

// try makes one attempt of a delivery job under its destination's rate
// limit and the attempt timeout.
func (d *Dispatcher) try(ctx context.Context, j *job) (Receipt, error) {
	switch j.kind {
	case jobReplace, jobEphemeral:
		if err := ctx.Err(); err != nil {
			return Receipt{}, err
		}
		if !j.notAfter.IsZero() && !d.o.Now().Before(j.notAfter) {
			return Receipt{}, &DeliveryError{Reason: "the click's response_url has expired (Slack accepts one for 30 minutes)", Code: "expired_url", Permanent: true}
		}
	default:
		if err := d.waitTurn(ctx, limitKey(j.ch), j.ch); err != nil {
			return Receipt{}, err
		}
	}
	j.attempts++
	return d.send(ctx, j)
}

// send makes the platform call of a delivery job, within the attempt
// timeout: the part of a try shared by the in-memory and durable queues.
func (d *Dispatcher) send(ctx context.Context, j *job) (Receipt, error) {
	actx, cancel := context.WithTimeout(ctx, d.o.AttemptTimeout)
	defer cancel()
	var rc Receipt
	var err error
	switch j.kind {
	case jobPost:
		rc, err = d.sender.Send(actx, j.ch, j.event)
	case jobUpdate, jobFollowUp:
		rc = j.post.Receipt
		err = d.sender.showDecision(actx, j.ch, j.post, j.request)
	case jobReplace:
		m := slackReplacement(j.request)
		err = d.sender.respond(actx, j.responseURL, slackResponse{Text: m.Text, Blocks: m.Blocks, ReplaceOriginal: true})
	case jobEphemeral:
		m := slackEphemeral(j.warning)
		err = d.sender.respond(actx, j.responseURL, slackResponse{Text: m.Text, ResponseType: "ephemeral"})
		if isNoAnswer(err) {
			// The warning may have been shown; showing it twice would be
			// worse than not retrying it.
			err = noRetry(err)
		}
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return rc, err
}

// isNoAnswer reports whether err is a failure to get any answer, after
// which the request may or may not have arrived.
func isNoAnswer(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.StatusCode == 0 && !de.Permanent
}

// noRetry returns a copy of the *DeliveryError err marked permanent.
func noRetry(err error) error {
	var de *DeliveryError
	if !errors.As(err, &de) {
		return err
	}
	c := *de
	c.Permanent = true
	return &c
}

// finishExpansion ends a fan-out or decided job, which has no result of
// its own: its failure to queue the jobs it stands for is logged. It
// reports whether j was such a job. Both queues finish through it.
func (d *Dispatcher) finishExpansion(ctx context.Context, j *job, err error) bool {
	if j.kind != jobFanOut && j.kind != jobDecided {
		return false
	}
	if err != nil {
		d.o.Logger.ErrorContext(ctx, "notify: could not queue the deliveries of "+string(j.kind)+" work; they are not made",
			"org_id", j.orgID, "approval_id", j.request.ID, "attempts", j.attempts, "err", err)
	}
	return true
}

// finish ends j with the outcome of its last try: it reports the result
// of a delivery job and, for a post of an approval request, records the
// copy and catches up a decision made meanwhile.
func (d *Dispatcher) finish(ctx context.Context, j *job, rc Receipt, err error) {
	if d.finishExpansion(ctx, j, err) {
		return
	}
	res := j.result()
	var (
		post  Post
		check *copyCheck
	)
	if err == nil {
		res.OK, res.Receipt = true, rc
		if j.kind == jobPost {
			post, check = d.recordPost(ctx, j.ch, j.event, rc)
		}
	} else {
		res.Err = err
		res.Error, res.Code = describe(err)
		if j.catchUp {
			d.copies.forget(j.post) // a later decision's jobs may try again
		}
	}
	d.report(ctx, res)
	if check != nil {
		d.catchUp(ctx, j.ch, post, check)
	}
}

// fanOut runs a fan-out job: it reads what the job stands for and queues
// one job per destination, which the queue always accepts.
func (d *Dispatcher) fanOut(ctx context.Context, j *job) error {
	var jobs []*job
	var err error
	if j.kind == jobFanOut {
		jobs, err = d.postJobs(ctx, j.orgID, j.event)
	} else {
		jobs, err = d.decidedJobs(ctx, j.request)
	}
	if err != nil {
		return err
	}
	d.logCreated(jobs...)
	return d.q.push(true, jobs...)
}

// postJobs returns one post job per enabled channel of orgID subscribed
// to ev, in the store's order.
func (d *Dispatcher) postJobs(ctx context.Context, orgID string, ev Event) ([]*job, error) {
	all, err := d.channels.ListChannels(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("notify: listing channels: %w", err)
	}
	t := ev.eventType()
	var jobs []*job
	for _, ch := range all {
		if ch.OrgID != "" && ch.OrgID != orgID || !ch.Enabled || !ch.subscribed(t) {
			continue
		}
		ch.OrgID = orgID
		jobs = append(jobs, &job{kind: jobPost, orgID: orgID, ch: ch, event: ev})
	}
	return jobs, nil
}

// decidedJobs returns one job per copy of the decided request r that can
// show the decision: an update of each Slack message posted with a bot
// token and of each Teams bot card, a follow-up to each other enabled
// Teams channel. Only r's organisation is read: its posts and its
// channels. Copies whose channel is gone are skipped, and so is, once, a
// copy catchUp has already brought up to date (see [copyTracker]).
func (d *Dispatcher) decidedJobs(ctx context.Context, r approval.Request) ([]*job, error) {
	posts, err := d.o.Posts.ListPosts(ctx, r.OrgID, r.ID)
	if err != nil {
		return nil, fmt.Errorf("notify: listing posts: %w", err)
	}
	if len(posts) == 0 {
		return nil, nil
	}
	chans, err := d.channels.ListChannels(ctx, r.OrgID)
	if err != nil {
		return nil, fmt.Errorf("notify: listing channels: %w", err)
	}
	byID := make(map[string]Channel, len(chans))
	for _, ch := range chans {
		if ch.OrgID == "" || ch.OrgID == r.OrgID {
			ch.OrgID = r.OrgID
			byID[ch.ID] = ch
		}
	}
	var jobs []*job
	for _, p := range posts {
		ch, ok := byID[p.ChannelID]
		if p.OrgID != r.OrgID || p.ApprovalID != r.ID || !ok {
			continue
		}
		if kind, ok := updateKind(ch, p); ok {
			jobs = append(jobs, &job{kind: kind, orgID: r.OrgID, ch: ch, post: p, request: r})
		}
	}
	if d.dq != nil {
		// Durable: an update job is unique per copy, so a catch-up and a
		// decision queue it once (across replicas too).
		return jobs, nil
	}
	// Only now that nothing can fail: a copy taken over from catchUp
	// must be updated here.
	kept := jobs[:0]
	for _, j := range jobs {
		if d.copies.visit(j.post) {
			kept = append(kept, j)
		}
	}
	return kept, nil
}

// updateKind returns the job that shows a decision on the copy p, posted
// to ch, and whether there is one: a Slack message posted with a bot
// token and a Teams card posted by the bot can be rewritten, and an
// enabled Teams channel can get a follow-up card. A Slack message posted
// through an incoming webhook cannot be edited at all.
func updateKind(ch Channel, p Post) (jobKind, bool) {
	switch {
	case ch.Type == Slack && p.Receipt.SlackTS != "":
		return jobUpdate, true
	case ch.Type == Teams && p.Receipt.TeamsActivityID != "":
		return jobUpdate, true // the bot's card, replaced in place (PUT)
	case ch.Type == Teams && ch.Enabled:
		return jobFollowUp, true
	}
	return "", false
}

// waitTurn waits for the channel's rate limit.
func (d *Dispatcher) waitTurn(ctx context.Context, key string, ch Channel) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.o.DisableRateLimit {
		return nil
	}
	rates := d.rates(ch)
	now := d.o.Now()
	at := d.limits.reserve(key, rates, now)
	if wait := at.Sub(now); wait > 0 {
		return d.o.Sleep(ctx, wait)
	}
	return nil
}

// retryAfter is the one retry policy: it decides whether try attempt's
// failure err is retried, and after how long, given the time already
// spent. Permanent errors are not; a platform's Retry-After is honoured
// up to MaxRetryAfter; other failures back off exponentially with
// jitter; MaxAttempts and MaxElapsed bound it all.
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
