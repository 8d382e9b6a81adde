package memstore_test

import (
	"testing"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/memstore"
	"github.com/chatnotify/chatnotify/store/storetest"
	"github.com/chatnotify/chatnotify/teams"
)

func TestChannelStore(t *testing.T) {
	storetest.TestChannelStore(t, func(*testing.T) notify.ChannelStore { return memstore.New() })
}

func TestPostStore(t *testing.T) {
	storetest.TestPostStore(t, func(*testing.T) notify.PostStore { return memstore.New() })
}

func TestApprovalStore(t *testing.T) {
	storetest.TestApprovalStore(t, func(*testing.T) storetest.ApprovalStores { return memstore.New() })
}

func TestDeliveryStore(t *testing.T) {
	storetest.TestDeliveryStore(t, func(*testing.T) notify.DeliveryStore { return memstore.New().Deliveries() })
}

func TestConversationStore(t *testing.T) {
	storetest.TestConversationStore(t, func(*testing.T) teams.ConversationStore { return memstore.New() })
}
