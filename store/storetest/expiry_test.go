package storetest_test

import (
	"testing"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/store/memstore"
	"github.com/chatnotify/chatnotify/store/storetest"
)

// requiredOnly is a store with only what an approval.Service requires:
// embedding the two interfaces hides memstore's ListAudit and
// ListExpired.
type requiredOnly struct {
	approval.ApprovalStore
	approval.AuditLogger
}

// The AuditLister and ExpiryLister rules are skipped, not failed, for a
// store without them (go test -v shows them as SKIP), and the rest of the
// suite, the concurrency case included, still runs.
func TestApprovalStoreWithOnlyTheRequiredInterfaces(t *testing.T) {
	storetest.TestApprovalStore(t, func(*testing.T) storetest.ApprovalStores {
		m := memstore.New()
		return requiredOnly{m, m}
	})
}
