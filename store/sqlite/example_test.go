package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/sqlite"
)

func ExampleOpen() {
	ctx := context.Background()
	// A file path, such as /var/lib/myapp/chatnotify.db, in a real host;
	// a private in-memory database here.
	store, err := sqlite.Open(ctx, ":memory:", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	ch, err := store.CreateChannel(ctx, notify.Channel{
		OrgID:   "acme",
		Type:    notify.Teams,
		Name:    "ops",
		Config:  notify.ChannelConfig{WebhookURL: "https://acme.webhook.office.com/webhookb2/x"},
		Enabled: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	channels, _ := store.ListChannels(ctx, "acme")
	fmt.Println(len(channels), channels[0].Name, channels[0].ID == ch.ID)

	// The approval routine decides through the same store.
	svc, err := approval.NewService(store, store, nil)
	if err != nil {
		log.Fatal(err)
	}
	req, _ := svc.Create(ctx, approval.Request{ID: "deploy-42", OrgID: "acme", Title: "Deploy", ExpiresAt: time.Now().Add(time.Hour)})
	req, _ = svc.Review(ctx, "acme", req.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceSlack)
	fmt.Println(req.Status, "-", req.ReviewNotes)
	_, err = svc.Review(ctx, "acme", req.ID, approval.Deny, approval.Reviewer{Name: "bob"}, approval.SourceTeams)
	fmt.Println(approval.Message(err))

	// Another organisation neither sees acme's request nor collides
	// with its ID.
	_, err = svc.Get(ctx, "globex", "deploy-42")
	fmt.Println(approval.Message(err))
	other, _ := svc.Create(ctx, approval.Request{ID: "deploy-42", OrgID: "globex", Title: "Deploy"})
	fmt.Println(other.OrgID, other.ID, other.Status)
	// Output:
	// 1 ops true
	// approved - Approved by amy via Slack
	// Already approved
	// Approval request not found
	// globex deploy-42 pending
}
