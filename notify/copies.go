package notify

import (
	"context"
	"sync"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

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

// catchUp runs right after the copy p of an approval request was
// recorded, when Approvals is set. A decision made while p was queued or
// in flight has already queued its jobs, whose listing of the copies may
// have come before p was recorded and missed it; so catchUp reads the
// request again and, if it has left pending, queues the update of p
// itself, unless the decision's jobs have meanwhile taken p over (see
// [copyTracker]).
func (d *Dispatcher) catchUp(ctx context.Context, ch Channel, p Post, chk *copyCheck) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	r, err := d.o.Approvals.GetApproval(ctx, p.OrgID, p.ApprovalID)
	if err != nil {
		d.copies.end(chk, false, time.Time{})
		d.o.Logger.WarnContext(ctx, "notify: could not read an approval request again after posting it; if it was decided meanwhile, this copy keeps its buttons",
			"approval_id", p.ApprovalID, "org_id", p.OrgID, "channel_id", p.ChannelID, "err", err)
		return
	}
	kind, updatable := updateKind(ch, p)
	decided := r.Status != approval.StatusPending && (r.OrgID == "" || r.OrgID == p.OrgID)
	if !d.copies.end(chk, decided && updatable, d.o.Now()) {
		return
	}
	// Accepted even while closing: Close waits for it.
	j := &job{kind: kind, orgID: p.OrgID, ch: ch, post: p, request: r, catchUp: true}
	d.logCreated(j)
	_ = d.q.push(true, j)
}

// caughtUpFor is how long the tracker remembers a copy that catchUp
// updated, for the decision jobs that may still come for it.
const caughtUpFor = time.Hour

// copyTracker keeps catchUp and a decision's jobs (decidedJobs) from
// updating one copy twice (a second chat.update is harmless, a second
// Teams follow-up card is not) when a request is decided after its copy
// was recorded but before catchUp read it again, so that both see the
// decision and the copy:
//
//   - from before the copy is recorded until catchUp has read the
//     request, the copy is being checked; a decision's listing that
//     meets it then takes it over, and catchUp leaves it alone;
//   - a copy catchUp queued the update of is remembered (for
//     [caughtUpFor]) as caught up; a decision's listing that meets it
//     then skips it, once.
//
// It works within one process: with several replicas sharing a store,
// the decision jobs of another replica can still, in that narrow window,
// update a copy this one has updated.
type copyTracker struct {
	mu       sync.Mutex
	checking map[string]*copyCheck
	caughtUp map[string]time.Time
}

// copyCheck is one copy being checked by catchUp.
type copyCheck struct {
	key   string
	taken bool // a decision's listing took the copy over
}

// copyKey identifies a copy: its request, its channel and, for Slack bot
// messages, the message.
func copyKey(p Post) string {
	return p.ApprovalID + "\x00" + p.ChannelID + "\x00" + p.Receipt.SlackChannel + "\x00" + p.Receipt.SlackTS
}

// begin marks p as being checked, from before it is recorded.
func (c *copyTracker) begin(p Post) *copyCheck {
	chk := &copyCheck{key: copyKey(p)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checking == nil {
		c.checking = map[string]*copyCheck{}
	}
	c.checking[chk.key] = chk
	return chk
}

// end ends the check chk. When update is true (the request was found
// decided and the copy can show it), it reports whether the caller is to
// update the copy: yes, unless a decision's listing took it over; the
// copy is then remembered as caught up from now on.
func (c *copyTracker) end(chk *copyCheck, update bool, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checking[chk.key] == chk {
		delete(c.checking, chk.key)
	}
	if !update || chk.taken {
		return false
	}
	for k, at := range c.caughtUp {
		if now.Sub(at) > caughtUpFor {
			delete(c.caughtUp, k)
		}
	}
	if c.caughtUp == nil {
		c.caughtUp = map[string]time.Time{}
	}
	c.caughtUp[chk.key] = now
	return true
}

// forget drops the memory that p was caught up, after that update
// failed.
func (c *copyTracker) forget(p Post) {
	c.mu.Lock()
	delete(c.caughtUp, copyKey(p))
	c.mu.Unlock()
}

// visit is called by decidedJobs for each copy it is about to update.
// It reports false for a copy catchUp has already updated (forgetting
// it: one skip per catch-up), and takes over a copy being checked.
func (c *copyTracker) visit(p Post) bool {
	k := copyKey(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.caughtUp[k]; ok {
		delete(c.caughtUp, k)
		return false
	}
	if chk, ok := c.checking[k]; ok {
		chk.taken = true
	}
	return true
}
