package sqlstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/sqlstore"
)

func ExampleOpen() {
	ctx := context.Background()
	// A file path (sqlite:chatnotify.db) or a postgres:// URL in a real
	// host; an in-memory SQLite database here.
	store, err := sqlstore.Open(ctx, "sqlite::memory:", nil)
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
	req, _ := svc.Create(ctx, approval.Request{OrgID: "acme", Title: "Deploy", ExpiresAt: time.Now().Add(time.Hour)})
	req, _ = svc.Review(ctx, req.ID, approval.Approve, approval.Reviewer{Name: "amy"}, approval.SourceSlack)
	fmt.Println(req.Status, "-", req.ReviewNotes)
	_, err = svc.Review(ctx, req.ID, approval.Deny, approval.Reviewer{Name: "bob"}, approval.SourceTeams)
	fmt.Println(approval.Message(err))
	// Output:
	// 1 ops true
	// approved - Approved by amy via Slack
	// Already approved
}
