package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/chatnotify/chatnotify/notify"
)

// RecordPost implements [notify.PostStore]. The receipt is stored as
// JSON, so fields added to [notify.Receipt] later are kept without a
// migration.
func (s *Store) RecordPost(ctx context.Context, p notify.Post) error {
	if p.PostedAt.IsZero() {
		p.PostedAt = s.now()
	}
	receipt, err := json.Marshal(p.Receipt)
	if err != nil {
		return s.errorf("encoding a receipt: %w", err)
	}
	_, err = s.wdb.ExecContext(ctx, s.q(`INSERT INTO chatnotify_posts
		(approval_id, org_id, channel_id, channel_type, receipt, posted_at) VALUES (?, ?, ?, ?, ?, ?)`),
		p.ApprovalID, p.OrgID, p.ChannelID, string(p.ChannelType), string(receipt), s.t(p.PostedAt))
	if err != nil {
		return s.dbError("recording a post", err)
	}
	return nil
}

// ListPosts implements [notify.PostStore]: the posts of the request
// approvalID of orgID, never another organisation's.
func (s *Store) ListPosts(ctx context.Context, orgID, approvalID string) ([]notify.Post, error) {
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT approval_id, org_id, channel_id, channel_type, receipt, posted_at
		FROM chatnotify_posts WHERE org_id = ? AND approval_id = ? ORDER BY posted_at, seq`), orgID, approvalID)
	if err != nil {
		return nil, s.dbError("listing posts", err)
	}
	defer rows.Close()
	out := []notify.Post{}
	for rows.Next() {
		var (
			p            notify.Post
			typ, receipt string
		)
		if err := rows.Scan(&p.ApprovalID, &p.OrgID, &p.ChannelID, &typ, &receipt, timeDest{&p.PostedAt}); err != nil {
			return nil, s.dbError("reading a post", err)
		}
		p.ChannelType = notify.ChannelType(typ)
		if err := json.Unmarshal([]byte(receipt), &p.Receipt); err != nil {
			return nil, s.errorf("bad stored receipt for approval %s", p.ApprovalID)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError("listing posts", err)
	}
	return out, nil
}
