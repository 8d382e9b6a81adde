package storetest_test

import (
	"testing"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/memstore"
	"github.com/chatnotify/chatnotify/store/storetest"
)

// A host checks its own store by calling the suites from a test; here the
// in-memory store stands in for it. The factory runs once per subtest and
// returns an empty store. (Suites need a *testing.T, so this example shows
// the test functions rather than running them.)
func Example() {
	_ = func(t *testing.T) { // func TestChannelStore(t *testing.T)
		storetest.TestChannelStore(t, func(t *testing.T) notify.ChannelStore {
			return memstore.New()
		})
	}
	_ = func(t *testing.T) { // func TestApprovalStore(t *testing.T)
		storetest.TestApprovalStore(t, func(t *testing.T) storetest.ApprovalStores {
			return memstore.New()
		})
	}
}
