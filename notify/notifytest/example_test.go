package notifytest_test

import (
	"context"
	"fmt"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// A host's test sends through chatnotify's real sender to a fake Slack,
// makes it fail once, and inspects what it received.
func Example() {
	slack := notifytest.NewSlack()
	defer slack.Close()

	sender, err := notify.NewSender(&notify.SenderOptions{
		SlackAPIURL:       slack.APIURL(),
		AllowLoopbackURLs: true, // the fake listens on 127.0.0.1 over http
	})
	if err != nil {
		panic(err)
	}
	ch := notify.Channel{
		Type:   notify.Slack,
		Name:   "alerts",
		Config: notify.ChannelConfig{WebhookURL: slack.WebhookURL("alerts")},
	}
	alert := notify.DriftAlert{Resource: "aws_security_group.web", Severity: notify.SeverityHigh}
	ctx := context.Background()

	_, err = sender.Send(ctx, ch, alert)
	fmt.Println("first:", err)

	slack.FailNext(1, notifytest.PlatformError("no_service"))
	_, err = sender.Send(ctx, ch, alert)
	fmt.Println("second:", err)

	for _, r := range slack.Requests() {
		fmt.Println(r.Method, r.Answer, r.Error, "|", r.Text)
	}
	// Output:
	// first: <nil>
	// second: notify: delivery failed (no_service): the webhook URL is no longer valid (no_service): create a new incoming webhook and update the channel
	// webhook 200  | Drift detected on aws_security_group.web (High severity)
	// webhook 404 no_service | Drift detected on aws_security_group.web (High severity)
}
