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
	req, _ = svc.Review(ctx, req.ID, approval.Approve, approval.Reviewer{ID: "U1", Name: "amy"}, approval.SourceSlack)
	fmt.Println(req.Status, "-", req.ReviewNotes)

	_, err = svc.Review(ctx, req.ID, approval.Deny, approval.Reviewer{ID: "U2", Name: "bob"}, approval.SourceTeams)
	fmt.Println(approval.Message(err))

	trail, _ := store.ListAudit(ctx, "acme", approval.AuditFilter{})
	for _, e := range trail {
		fmt.Println(e.Action, e.Actor, e.Decision)
	}
	// Output:
	// approved - Approved by amy via Slack
	// Already approved
	// approval.reviewed amy approved
}
