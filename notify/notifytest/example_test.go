package notifytest_test

import (
	"context"
	"fmt"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// A host's test sends through chatnotify's real sender to the fake, makes
// it fail once with a real Slack error body, and inspects what it
// received.
func Example() {
	fake := notifytest.New()
	defer fake.Close()

	sender, err := notify.NewSender(&notify.SenderOptions{
		SlackAPIURL:       fake.SlackAPIURL(),
		AllowLoopbackURLs: true, // the fake listens on 127.0.0.1 over http
	})
	if err != nil {
		panic(err)
	}
	ch := notify.Channel{
		Type:   notify.Slack,
		Name:   "alerts",
		Config: notify.ChannelConfig{WebhookURL: fake.SlackWebhookURL("alerts")},
	}
	alert := notify.DriftAlert{Resource: "aws_security_group.web", Severity: notify.SeverityHigh}
	ctx := context.Background()

	_, err = sender.Send(ctx, ch, alert)
	fmt.Println("first:", err)

	fake.FailNext(1, notifytest.PlatformError("no_service"))
	_, err = sender.Send(ctx, ch, alert)
	fmt.Println("second:", err)

	for _, r := range fake.Requests() {
		fmt.Printf("%s %s %d %q\n", r.Method, r.Path, r.Answer, r.Error)
	}
	// Output:
	// first: <nil>
	// second: notify: delivery failed (no_service): the webhook URL is no longer valid (no_service): create a new incoming webhook and update the channel
	// webhook /services/T00000000/B00000000/alerts 200 ""
	// webhook /services/T00000000/B00000000/alerts 404 "no_service"
}
