package approval_test

import (
	"context"
	"fmt"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// Every path (Slack, Teams, the host's own API) decides through
// Service.Review, which applies the spec's processing logic.
func ExampleService_Review() {
	ctx := context.Background()
	store := memstore.New()
	svc, _ := approval.NewService(store, store, nil)

	req, _ := svc.Create(ctx, approval.Request{
		ID: "apr-42", OrgID: "acme", Title: "Delete bucket logs-archive",
		RiskScore: 82, ExpiresAt: time.Now().Add(time.Hour),
	})
	amy := approval.Reviewer{ID: "U0CA5", Name: "amy", Verified: true}
	req, err := svc.Review(ctx, req.ID, approval.Approve, amy, approval.SourceSlack)
	fmt.Println(req.Status, err, req.ReviewNotes)

	// A second click, from anyone, anywhere: the request was decided once.
	_, err = svc.Review(ctx, req.ID, approval.Deny, approval.Reviewer{Name: "bob"}, approval.SourceTeams)
	fmt.Println(approval.Message(err))

	_, err = svc.Review(ctx, "apr-404", approval.Approve, amy, approval.SourceSlack)
	fmt.Println(approval.Message(err))
	// Output:
	// approved <nil> Approved by amy via Slack
	// Already approved
	// Approval request not found
}
