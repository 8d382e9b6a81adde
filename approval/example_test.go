package approval_test

import (
	"context"
	"fmt"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// Every path (Slack, Teams, the host's own API) decides through
// Service.Review, which applies the spec's processing logic within one
// organisation.
func ExampleService_Review() {
	ctx := context.Background()
	store := newTestStore() // in a host: store/memstore, store/sqlite, store/postgres
	svc, _ := approval.NewService(store, store, &approval.Options{
		FollowUp: func(ctx context.Context, f approval.FollowUp) {
			// In a host: notify's (*Dispatcher).FollowUp rewrites the chat copies.
			fmt.Println("follow-up:", f.Request.OrgID, f.Request.ID, f.Request.Status)
		},
	})

	req, _ := svc.Create(ctx, approval.Request{
		ID: "apr-42", OrgID: "acme", Title: "Delete bucket logs-archive",
		RiskScore: 82, ExpiresAt: time.Now().Add(time.Hour),
	})
	amy := approval.Reviewer{ID: "U0CA5", Name: "amy", Verified: true}
	req, err := svc.Review(ctx, "acme", req.ID, approval.Approve, amy, approval.SourceSlack)
	fmt.Println(req.Status, err, req.ReviewNotes)

	// A second click, from anyone, anywhere: the request was decided once.
	_, err = svc.Review(ctx, "acme", req.ID, approval.Deny, approval.Reviewer{Name: "bob"}, approval.SourceTeams)
	fmt.Println(approval.Message(err))

	// Another organisation does not see acme's request.
	_, err = svc.Review(ctx, "globex", "apr-42", approval.Deny, amy, approval.SourceAPI)
	fmt.Println(approval.Message(err))
	// Output:
	// follow-up: acme apr-42 approved
	// approved <nil> Approved by amy via Slack
	// Already approved
	// Approval request not found
}

// Action tokens name the organisation, the request and the decision; a
// Teams card's Approve and Deny links and buttons carry one each.
func ExampleSigner() {
	signer, err := approval.NewSigner([]byte("0123456789abcdef0123456789abcdef")) // use 32 random bytes
	if err != nil {
		panic(err)
	}
	deadline := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	token := signer.Sign(approval.ActionClaims{OrgID: "acme", ApprovalID: "apr-42", Decision: approval.Deny, ExpiresAt: deadline})

	c, err := signer.Verify(token, deadline.Add(-time.Minute))
	fmt.Println(c.OrgID, c.ApprovalID, c.Decision, err)
	_, err = signer.Verify(token, deadline)
	fmt.Println(err)
	_, err = signer.Verify(token+"x", deadline.Add(-time.Minute))
	fmt.Println(err)
	// Output:
	// acme apr-42 deny <nil>
	// approval: action token has expired
	// approval: invalid action token
}
