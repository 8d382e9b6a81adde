package memstore_test

import (
	"context"
	"fmt"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// One Store serves as both the approval store and the audit logger of an
// approval.Service.
func Example() {
	ctx := context.Background()
	store := memstore.New()
	svc, err := approval.NewService(store, store, nil)
	if err != nil {
		panic(err)
	}
	req, _ := svc.Create(ctx, approval.Request{ID: "apr-1", OrgID: "acme", Title: "Rotate keys", RiskScore: 40})
	req, _ = svc.Review(ctx, "acme", req.ID, approval.Approve, approval.Reviewer{ID: "U1", Name: "amy"}, approval.SourceSlack)
	fmt.Println(req.Status, "-", req.ReviewNotes)

	_, err = svc.Review(ctx, "acme", req.ID, approval.Deny, approval.Reviewer{ID: "U2", Name: "bob"}, approval.SourceTeams)
	fmt.Println(approval.Message(err))

	trail, _ := store.ListAudit(ctx, "acme", approval.AuditFilter{})
	for _, e := range trail {
		fmt.Println(e.Action, e.Actor, e.Decision)
	}

	// Organisations are isolated: another org neither sees acme's request
	// nor collides with its ID.
	_, err = svc.Get(ctx, "globex", "apr-1")
	fmt.Println(approval.Message(err))
	other, _ := svc.Create(ctx, approval.Request{ID: "apr-1", OrgID: "globex", Title: "Rotate keys"})
	fmt.Println(other.OrgID, other.ID, other.Status)
	// Output:
	// approved - Approved by amy via Slack
	// Already approved
	// approval.reviewed amy approved
	// Approval request not found
	// globex apr-1 pending
}
