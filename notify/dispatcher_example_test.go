package notify_test

import (
	"context"
	"fmt"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// A host delivering an approval request to a Slack channel (bot token)
// and then deciding it through its own API: the decision's FollowUp
// rewrites the Slack message with the result. A fake Slack stands in for
// the real one.
func ExampleDispatcher() {
	fake := notifytest.New()
	defer fake.Close()
	ctx := context.Background()
	store := memstore.New()

	store.CreateChannel(ctx, notify.Channel{
		OrgID: "acme", Type: notify.Slack, Name: "Security", Enabled: true,
		Config: notify.ChannelConfig{BotToken: "xoxb-example", ChannelID: "C0123456789"},
	})
	sender, _ := notify.NewSender(&notify.SenderOptions{SlackAPIURL: fake.SlackAPIURL()})
	d, _ := notify.NewDispatcher(store, sender, &notify.DispatcherOptions{
		Posts:     store, // where each request was posted
		Approvals: store, // to catch up a decision made while a post was in flight
		OnDelivery: func(r notify.Result) {
			fmt.Printf("%s %s: ok=%t attempts=%d\n", r.Op, r.ChannelName, r.OK, r.Attempts)
		},
	})
	svc, _ := approval.NewService(store, store, &approval.Options{FollowUp: d.FollowUp})

	req, _ := svc.Create(ctx, approval.Request{OrgID: "acme", Title: "Rotate the root key", RiskScore: 82})
	d.Enqueue("acme", notify.ApprovalRequested{Request: req})
	svc.Review(ctx, "acme", req.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceAPI)
	d.Close(ctx) // waits for the queued jobs

	for _, r := range fake.Requests() {
		fmt.Printf("%s buttons=%d\n", r.Method, len(r.Buttons))
	}
	for _, m := range fake.Messages() {
		fmt.Printf("in %s now: %q\n", m.Channel, m.Text)
	}
	// Output:
	// post Security: ok=true attempts=1
	// update Security: ok=true attempts=1
	// chat.postMessage buttons=2
	// chat.update buttons=0
	// in C0123456789 now: ":white_check_mark: *APPROVED* by amy"
}

// What the Slack interaction handler hands over after a click: the
// clicked message is replaced through the click's response_url with the
// result, and a click that could not be decided gets a warning only the
// clicker sees.
func ExampleDispatcher_FollowUp() {
	fake := notifytest.New()
	defer fake.Close()
	ctx := context.Background()
	store := memstore.New()
	sender, _ := notify.NewSender(&notify.SenderOptions{
		SlackAPIURL:       fake.SlackAPIURL(),
		AllowLoopbackURLs: true, // the fake's response_urls are on 127.0.0.1
	})
	d, _ := notify.NewDispatcher(store, sender, nil)

	ch := notify.Channel{Type: notify.Slack, Name: "Security", Config: notify.ChannelConfig{BotToken: "xoxb-example", ChannelID: "C0123456789"}}
	req := approval.Request{ID: "apr-1", OrgID: "acme", Title: "Rotate the root key", RiskScore: 82}
	rc, _ := sender.Send(ctx, ch, notify.ApprovalRequested{Request: req})
	responseURL := fake.ResponseURL(rc.SlackChannel, rc.SlackTS) // from the click's payload

	req.Status, req.ReviewedBy = approval.StatusApproved, "amy"
	d.FollowUp(ctx, approval.FollowUp{Request: req, ResponseURL: responseURL})
	// A second click, by someone else: not decided, so only they are told.
	d.FollowUp(ctx, approval.FollowUp{ResponseURL: responseURL, Warning: "Already approved"})
	d.Close(ctx)

	for _, m := range fake.Messages() {
		fmt.Printf("%q ephemeral=%t edits=%v\n", m.Text, m.Ephemeral, m.Edits)
	}
	// Output:
	// ":white_check_mark: *APPROVED* by amy" ephemeral=false edits=[response_url]
	// ":warning: Already approved" ephemeral=true edits=[]
}
