package notify

import (
	"context"
	"sync"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// EventApprovalDecided is the type of an [ApprovalDecided]. Like
// [EventTest] it is not subscribable: it goes only to the channels that
// received the request.
const EventApprovalDecided EventType = "approval_decided"

// ApprovalDecided carries a request that has left pending (approved,
// denied or expired). [Dispatcher.UpdatePosts] sends it to every channel
// that received the request: a Slack message posted with a bot token is
// rewritten in place, and a Teams channel gets a follow-up result card.
type ApprovalDecided struct {
	Request approval.Request
}

// EventType returns [EventApprovalDecided].
func (ApprovalDecided) EventType() EventType { return EventApprovalDecided }

// updatable reports whether the copy p, posted to ch, can show a
// decision: a Slack message posted with a bot token can be rewritten
// (when the Sender implements [MessageUpdater]), and an enabled Teams
// channel can get a follow-up card. A Slack message posted through an
// incoming webhook cannot be edited at all.
func (d *Dispatcher) updatable(ch Channel, p Post) bool {
	switch {
	case ch.Type == Slack && p.Receipt.SlackTS != "":
		_, ok := d.sender.(MessageUpdater)
		return ok
	case ch.Type == Teams:
		return ch.Enabled
	}
	return false
}

// updateCopy shows the decision ev on the copy p in ch, which must be
// updatable: chat.update for a Slack bot message, a follow-up card for
// Teams. It is rate limited, retried and reported like a delivery.
func (d *Dispatcher) updateCopy(ctx context.Context, ch Channel, p Post, ev ApprovalDecided) Result {
	if ch.Type == Teams {
		return d.deliver(ctx, ch, ev, "follow_up", func(ctx context.Context) (Receipt, error) {
			return d.sender.Send(ctx, ch, ev)
		})
	}
	up := d.sender.(MessageUpdater)
	return d.deliver(ctx, ch, ev, "update", func(ctx context.Context) (Receipt, error) {
		return p.Receipt, up.Update(ctx, ch, p.Receipt, ev)
	})
}

// catchUp runs right after the copy p of an approval request was
// recorded, when Approvals is set. A decision made while p was queued or
// in flight has already queued its UpdatePosts, which may have listed
// the copies before p was recorded and missed it; so catchUp reads the
// request again and, if it has left pending, updates p itself, unless
// UpdatePosts has meanwhile taken p over (see [copyTracker]).
func (d *Dispatcher) catchUp(ctx context.Context, ch Channel, p Post, chk *copyCheck) {
	r, err := d.o.Approvals.GetApproval(ctx, p.ApprovalID)
	if err != nil {
		d.copies.end(chk, false, time.Time{})
		d.o.Logger.WarnContext(ctx, "notify: could not read an approval request again after posting it; if it was decided meanwhile, this copy keeps its buttons",
			"approval_id", p.ApprovalID, "org_id", p.OrgID, "channel_id", p.ChannelID, "err", err)
		return
	}
	decided := r.Status != approval.StatusPending && (r.OrgID == "" || r.OrgID == p.OrgID)
	if !d.copies.end(chk, decided && d.updatable(ch, p), d.o.Now()) {
		return
	}
	if res := d.updateCopy(ctx, ch, p, ApprovalDecided{Request: r}); !res.OK {
		d.copies.forget(p) // a later UpdatePosts may try again
	}
}

// caughtUpFor is how long the tracker remembers a copy that catchUp
// updated, for the UpdatePosts that may still come for it.
const caughtUpFor = time.Hour

// copyTracker keeps catchUp and UpdatePosts from updating one copy twice
// (a second chat.update is harmless, a second Teams follow-up card is
// not) when a request is decided after its copy was recorded but before
// catchUp read it again, so that both see the decision and the copy:
//
//   - from before the copy is recorded until catchUp has read the
//     request, the copy is being checked; an UpdatePosts that meets it
//     then takes it over, and catchUp leaves it alone;
//   - a copy catchUp updated is remembered (for [caughtUpFor]) as caught
//     up; an UpdatePosts that meets it then skips it, once.
//
// It works within one process: with several replicas sharing a store,
// the Decided job of another replica can still, in that narrow window,
// update a copy this one has updated.
type copyTracker struct {
	mu       sync.Mutex
	checking map[string]*copyCheck
	caughtUp map[string]time.Time
}

// copyCheck is one copy being checked by catchUp.
type copyCheck struct {
	key   string
	taken bool // UpdatePosts took the copy over
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
// update the copy: yes, unless UpdatePosts took it over; the copy is
// then remembered as caught up from now on.
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

// visit is called by UpdatePosts for each copy it is about to update.
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
