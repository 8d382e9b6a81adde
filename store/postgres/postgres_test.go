package postgres_test

import (
	"testing"

	"github.com/chatnotify/chatnotify/internal/pgtest"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/postgres"
	"github.com/chatnotify/chatnotify/store/storetest"
	"github.com/chatnotify/chatnotify/teams"
)

// newStore opens a Store in a new schema of a database of t's, both
// dropped after t. It skips t without a test server (see pgtest).
func newStore(t *testing.T, db string) *postgres.Store {
	s, err := postgres.Open(t.Context(), pgtest.NewSchema(t, db), &postgres.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestChannelStore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	t.Parallel()
	storetest.TestChannelStore(t, func(t *testing.T) notify.ChannelStore { return newStore(t, db) })
}

func TestPostStore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	t.Parallel()
	storetest.TestPostStore(t, func(t *testing.T) notify.PostStore { return newStore(t, db) })
}

func TestApprovalStore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	t.Parallel()
	storetest.TestApprovalStore(t, func(t *testing.T) storetest.ApprovalStores { return newStore(t, db) })
}

func TestDeliveryStore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	t.Parallel()
	storetest.TestDeliveryStore(t, func(t *testing.T) notify.DeliveryStore { return newStore(t, db).Deliveries() })
}

func TestConversationStore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	t.Parallel()
	storetest.TestConversationStore(t, func(t *testing.T) teams.ConversationStore { return newStore(t, db) })
}
