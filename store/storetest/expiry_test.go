package storetest_test

import (
	"testing"

	"github.com/chatnotify/chatnotify/store/memstore"
	"github.com/chatnotify/chatnotify/store/storetest"
)

// withoutExpiryLister is a complete approval store that does not
// implement the optional approval.ExpiryLister: embedding the interface
// hides memstore's ListExpired.
type withoutExpiryLister struct{ storetest.ApprovalStores }

// The ListExpired rules are skipped, not failed, for a store without
// ListExpired (go test -v shows them as SKIP), and the rest of the suite
// still runs.
func TestApprovalStoreWithoutExpiryListerSkipsListExpired(t *testing.T) {
	storetest.TestApprovalStore(t, func(*testing.T) storetest.ApprovalStores {
		return withoutExpiryLister{memstore.New()}
	})
}
