package sqlite_test

import (
	"testing"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/sqlite"
	"github.com/chatnotify/chatnotify/store/storetest"
	"github.com/chatnotify/chatnotify/teams"
)

// newStore opens a Store on a new file, closed after t.
func newStore(t *testing.T) *sqlite.Store {
	s, err := sqlite.Open(t.Context(), sqlite.MigratedPath(t, "chatnotify.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestChannelStore(t *testing.T) {
	storetest.TestChannelStore(t, func(t *testing.T) notify.ChannelStore { return newStore(t) })
}

func TestPostStore(t *testing.T) {
	storetest.TestPostStore(t, func(t *testing.T) notify.PostStore { return newStore(t) })
}

func TestApprovalStore(t *testing.T) {
	storetest.TestApprovalStore(t, func(t *testing.T) storetest.ApprovalStores { return newStore(t) })
}

func TestDeliveryStore(t *testing.T) {
	storetest.TestDeliveryStore(t, func(t *testing.T) notify.DeliveryStore { return newStore(t).Deliveries() })
}

func TestConversationStore(t *testing.T) {
	storetest.TestConversationStore(t, func(t *testing.T) teams.ConversationStore { return newStore(t) })
}
