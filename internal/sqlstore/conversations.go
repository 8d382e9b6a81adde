package sqlstore

import (
	"context"

	"github.com/chatnotify/chatnotify/teams"
)

var _ teams.ConversationStore = (*Store)(nil)

// SaveConversation implements [teams.ConversationStore] with one upsert
// on (org_id, conversation_id), so concurrent saves of one conversation
// leave one row, the last written.
func (s *Store) SaveConversation(ctx context.Context, c teams.Conversation) error {
	if c.OrgID == "" || c.ConversationID == "" {
		return s.errorf("SaveConversation: the conversation needs an OrgID and a ConversationID")
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = s.now()
	}
	_, err := s.wdb.ExecContext(ctx, s.q(`INSERT INTO chatnotify_teams_conversations
		(org_id, conversation_id, service_url, tenant_id, team_id, team_name, name, removed, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id, conversation_id) DO UPDATE SET
			service_url = excluded.service_url, tenant_id = excluded.tenant_id, team_id = excluded.team_id,
			team_name = excluded.team_name, name = excluded.name, removed = excluded.removed, updated_at = excluded.updated_at`),
		c.OrgID, c.ConversationID, c.ServiceURL, c.TenantID, c.TeamID, c.TeamName, c.Name, c.Removed, s.t(c.UpdatedAt))
	if err != nil {
		return s.dbError("saving a Teams conversation", err)
	}
	return nil
}

// ListConversations implements [teams.ConversationStore]: orgID's
// conversations, removed ones included, newest first.
func (s *Store) ListConversations(ctx context.Context, orgID string) ([]teams.Conversation, error) {
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT org_id, conversation_id, service_url, tenant_id, team_id, team_name, name, removed, updated_at
		FROM chatnotify_teams_conversations WHERE org_id = ? ORDER BY updated_at DESC, conversation_id`), orgID)
	if err != nil {
		return nil, s.dbError("listing Teams conversations", err)
	}
	defer rows.Close()
	out := []teams.Conversation{}
	for rows.Next() {
		var c teams.Conversation
		if err := rows.Scan(&c.OrgID, &c.ConversationID, &c.ServiceURL, &c.TenantID, &c.TeamID, &c.TeamName, &c.Name,
			&c.Removed, timeDest{&c.UpdatedAt}); err != nil {
			return nil, s.dbError("reading a Teams conversation", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError("listing Teams conversations", err)
	}
	return out, nil
}
