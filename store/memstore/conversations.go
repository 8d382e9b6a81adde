package memstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/chatnotify/chatnotify/teams"
)

var _ teams.ConversationStore = (*Store)(nil)

// SaveConversation implements [teams.ConversationStore]: c replaces the
// conversation of the same organisation and ID.
func (s *Store) SaveConversation(ctx context.Context, c teams.Conversation) error {
	if c.OrgID == "" || c.ConversationID == "" {
		return errors.New("memstore: SaveConversation: the conversation needs an OrgID and a ConversationID")
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = s.now()
	}
	c.UpdatedAt = c.UpdatedAt.UTC().Truncate(time.Microsecond)
	s.convMu.Lock()
	s.conversations[key{c.OrgID, c.ConversationID}] = c
	s.convMu.Unlock()
	return nil
}

// ListConversations implements [teams.ConversationStore]: orgID's
// conversations, removed ones included, newest first.
func (s *Store) ListConversations(ctx context.Context, orgID string) ([]teams.Conversation, error) {
	out := []teams.Conversation{}
	s.convMu.RLock()
	for k, c := range s.conversations {
		if k.org == orgID {
			out = append(out, c)
		}
	}
	s.convMu.RUnlock()
	slices.SortFunc(out, func(a, b teams.Conversation) int {
		return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), cmp.Compare(a.ConversationID, b.ConversationID))
	})
	return out, nil
}
