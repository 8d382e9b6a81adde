package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/chatnotify/chatnotify/internal/ids"
	"github.com/chatnotify/chatnotify/notify"
)

const channelColumns = `id, org_id, channel_type, name, bot_token, channel_id, webhook_url, service_url, conversation_id, tenant_id, events, enabled, created_at, updated_at`

// ListChannels implements [notify.ChannelStore].
func (s *Store) ListChannels(ctx context.Context, orgID string) ([]notify.Channel, error) {
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT `+channelColumns+` FROM chatnotify_channels
		WHERE org_id = ? ORDER BY created_at, id`), orgID)
	if err != nil {
		return nil, s.dbError("listing channels", err)
	}
	defer rows.Close()
	out := []notify.Channel{}
	for rows.Next() {
		ch, err := s.scanChannel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError("listing channels", err)
	}
	return out, nil
}

// GetChannel implements [notify.ChannelStore].
func (s *Store) GetChannel(ctx context.Context, orgID, id string) (notify.Channel, error) {
	row := s.rdb.QueryRowContext(ctx, s.q(`SELECT `+channelColumns+` FROM chatnotify_channels
		WHERE org_id = ? AND id = ?`), orgID, id)
	ch, err := s.scanChannel(row)
	if errors.Is(err, sql.ErrNoRows) {
		return notify.Channel{}, notify.ErrNotFound
	}
	return ch, err
}

// CreateChannel implements [notify.ChannelStore].
func (s *Store) CreateChannel(ctx context.Context, ch notify.Channel) (notify.Channel, error) {
	ch.ID = ids.New()
	ch.CreatedAt = s.timestamp()
	ch.UpdatedAt = ch.CreatedAt
	events, err := s.encodeEvents(ch.Events)
	if err != nil {
		return notify.Channel{}, err
	}
	row := s.wdb.QueryRowContext(ctx, s.q(`INSERT INTO chatnotify_channels (`+channelColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING `+channelColumns),
		ch.ID, ch.OrgID, string(ch.Type), ch.Name,
		s.seal(ch.Config.BotToken, ch.ID, "bot_token"), ch.Config.ChannelID,
		s.seal(ch.Config.WebhookURL, ch.ID, "webhook_url"),
		ch.Config.ServiceURL, ch.Config.ConversationID, ch.Config.TenantID,
		events, ch.Enabled, s.t(ch.CreatedAt), s.t(ch.UpdatedAt))
	got, err := s.scanChannel(row)
	if s.d.IsUniqueViolation(err) {
		return notify.Channel{}, notify.ErrConflict
	}
	return got, err
}

// UpdateChannel implements [notify.ChannelStore]. The check that the
// channel belongs to the organisation and the change are one statement.
func (s *Store) UpdateChannel(ctx context.Context, ch notify.Channel) (notify.Channel, error) {
	events, err := s.encodeEvents(ch.Events)
	if err != nil {
		return notify.Channel{}, err
	}
	now := s.t(s.timestamp())
	row := s.wdb.QueryRowContext(ctx, s.q(`UPDATE chatnotify_channels
		SET channel_type = ?, name = ?, bot_token = ?, channel_id = ?, webhook_url = ?,
			service_url = ?, conversation_id = ?, tenant_id = ?, events = ?, enabled = ?,
			updated_at = CASE WHEN created_at > ? THEN created_at ELSE ? END
		WHERE org_id = ? AND id = ?
		RETURNING `+channelColumns),
		string(ch.Type), ch.Name, s.seal(ch.Config.BotToken, ch.ID, "bot_token"), ch.Config.ChannelID,
		s.seal(ch.Config.WebhookURL, ch.ID, "webhook_url"),
		ch.Config.ServiceURL, ch.Config.ConversationID, ch.Config.TenantID, events, ch.Enabled,
		now, now, ch.OrgID, ch.ID)
	got, err := s.scanChannel(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notify.Channel{}, notify.ErrNotFound
	case s.d.IsUniqueViolation(err):
		return notify.Channel{}, notify.ErrConflict
	}
	return got, err
}

// DeleteChannel implements [notify.ChannelStore].
func (s *Store) DeleteChannel(ctx context.Context, orgID, id string) error {
	res, err := s.wdb.ExecContext(ctx, s.q(`DELETE FROM chatnotify_channels WHERE org_id = ? AND id = ?`), orgID, id)
	if err != nil {
		return s.dbError("deleting a channel", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.dbError("deleting a channel", err)
	}
	if n == 0 {
		return notify.ErrNotFound
	}
	return nil
}

func (s *Store) scanChannel(row scanner) (notify.Channel, error) {
	var (
		ch             notify.Channel
		typ, events    string
		token, hookURL string
	)
	err := row.Scan(&ch.ID, &ch.OrgID, &typ, &ch.Name, &token, &ch.Config.ChannelID, &hookURL,
		&ch.Config.ServiceURL, &ch.Config.ConversationID, &ch.Config.TenantID, &events, &ch.Enabled, timeDest{&ch.CreatedAt}, timeDest{&ch.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return notify.Channel{}, err
	}
	if err != nil {
		return notify.Channel{}, s.dbError("reading a channel", err)
	}
	ch.Type = notify.ChannelType(typ)
	if ch.Config.BotToken, err = s.open(token, ch.ID, "bot_token"); err != nil {
		return notify.Channel{}, err
	}
	if ch.Config.WebhookURL, err = s.open(hookURL, ch.ID, "webhook_url"); err != nil {
		return notify.Channel{}, err
	}
	if err := json.Unmarshal([]byte(events), &ch.Events); err != nil {
		return notify.Channel{}, s.errorf("bad stored events of channel %s", ch.ID)
	}
	return ch, nil
}

func (s *Store) encodeEvents(ev []notify.EventType) (string, error) {
	if ev == nil {
		ev = []notify.EventType{}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return "", s.errorf("encoding events: %w", err)
	}
	return string(b), nil
}
