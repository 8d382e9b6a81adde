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
// and then deciding it through its own API: the Slack message is
// rewritten with the result. A fake Slack stands in for the real one.
func ExampleDispatcher() {
	slack := notifytest.NewSlack()
	defer slack.Close()
	ctx := context.Background()
	store := memstore.New()

	store.CreateChannel(ctx, notify.Channel{
		OrgID: "acme", Type: notify.Slack, Name: "Security", Enabled: true,
		Config: notify.ChannelConfig{BotToken: "xoxb-example", ChannelID: "C0123456789"},
	})
	sender, _ := notify.NewSender(&notify.SenderOptions{SlackAPIURL: slack.APIURL()})
	d, _ := notify.NewDispatcher(store, sender, &notify.DispatcherOptions{Posts: store})
	svc, _ := approval.NewService(store, store, &approval.Options{OnDecided: d.Decided})

	req, _ := svc.Create(ctx, approval.Request{OrgID: "acme", Title: "Rotate the root key", RiskScore: 82})
	results, _ := d.Dispatch(ctx, "acme", notify.ApprovalRequested{Request: req})
	for _, r := range results {
		fmt.Printf("%s: ok=%t attempts=%d\n", r.ChannelName, r.OK, r.Attempts)
	}

	svc.Review(ctx, req.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceAPI)
	d.Close(ctx) // waits for the background update

	for _, r := range slack.Requests() {
		fmt.Printf("%s %s buttons=%d\n", r.Method, r.Text, len(r.Buttons()))
	}
	// Output:
	// Security: ok=true attempts=1
	// chat.postMessage Approval requested: Rotate the root key (High risk, 82) buttons=2
	// chat.update :white_check_mark: *APPROVED* by amy buttons=0
}
