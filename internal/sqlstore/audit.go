package sqlstore

import (
	"context"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/ids"
)

// defaultAuditLimit is the number of entries ListAudit returns when the
// filter sets no limit.
const defaultAuditLimit = 100

// LogAudit implements [approval.AuditLogger]. Entry IDs are unique per
// organisation.
func (s *Store) LogAudit(ctx context.Context, e approval.AuditEntry) error {
	if e.ID == "" {
		e.ID = ids.New()
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := s.wdb.ExecContext(ctx, s.q(`INSERT INTO chatnotify_audit
		(id, org_id, action, approval_id, at, actor, actor_id, actor_verified, source, decision, risk_score, notes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.ID, e.OrgID, e.Action, e.ApprovalID, s.t(e.At), e.Actor, e.ActorID, e.Verified,
		string(e.Source), string(e.Decision), e.RiskScore, e.Notes)
	if err != nil {
		return s.dbError("writing an audit entry", err)
	}
	return nil
}

// ListAudit implements [approval.AuditLister], through the index on
// (org_id, at, seq) or, filtered on a request, (org_id, approval_id, at,
// seq).
func (s *Store) ListAudit(ctx context.Context, orgID string, f approval.AuditFilter) ([]approval.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	query := `SELECT id, org_id, action, approval_id, at, actor, actor_id, actor_verified, source, decision, risk_score, notes
		FROM chatnotify_audit WHERE org_id = ?`
	args := []any{orgID}
	if f.ApprovalID != "" {
		query += ` AND approval_id = ?`
		args = append(args, f.ApprovalID)
	}
	query += ` ORDER BY at DESC, seq DESC LIMIT ?`
	args = append(args, limit)

	rows, err := s.rdb.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.dbError("listing the audit trail", err)
	}
	defer rows.Close()
	out := []approval.AuditEntry{}
	for rows.Next() {
		var (
			e                approval.AuditEntry
			source, decision string
		)
		if err := rows.Scan(&e.ID, &e.OrgID, &e.Action, &e.ApprovalID, timeDest{&e.At}, &e.Actor, &e.ActorID,
			&e.Verified, &source, &decision, &e.RiskScore, &e.Notes); err != nil {
			return nil, s.dbError("reading an audit entry", err)
		}
		e.Source, e.Decision = approval.Source(source), approval.Status(decision)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError("listing the audit trail", err)
	}
	return out, nil
}
