package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/ids"
	"github.com/chatnotify/chatnotify/internal/jobq"
)

const approvalColumns = `id, org_id, title, description, agent, action, risk_score, requested_by, console_url,
	status, created_at, expires_at, reviewed_at, reviewed_by, reviewer_id, review_source, review_notes`

// CreateApproval implements [approval.ApprovalStore]. Requests are keyed
// by (org_id, id): the same ID in two organisations is two requests.
func (s *Store) CreateApproval(ctx context.Context, r approval.Request) (approval.Request, error) {
	if r.OrgID == "" {
		return approval.Request{}, s.errorf("CreateApproval: the request has no OrgID")
	}
	if r.ID == "" {
		r.ID = ids.New()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	// With the durable queue working, the request and the job posting it
	// commit together (see handOff).
	var got approval.Request
	err := s.handOff(ctx, func(db querier) ([]jobq.Job, error) {
		row := db.QueryRowContext(ctx, s.q(`INSERT INTO chatnotify_approvals (`+approvalColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '', '', '', '')
		RETURNING `+approvalColumns),
			r.ID, r.OrgID, r.Title, r.Description, r.Agent, r.Action, r.RiskScore, r.RequestedBy, r.ConsoleURL,
			string(approval.StatusPending), s.t(r.CreatedAt), s.t(r.ExpiresAt))
		var err error
		got, err = s.scanApproval(row)
		return []jobq.Job{jobq.ApprovalFanOut(got.OrgID, got.ID)}, err
	})
	if err != nil && s.d.IsUniqueViolation(err) {
		return approval.Request{}, approval.ErrConflict
	}
	return got, err
}

// GetApproval implements [approval.ApprovalStore]. A request of another
// organisation is [approval.ErrNotFound].
func (s *Store) GetApproval(ctx context.Context, orgID, id string) (approval.Request, error) {
	return s.getApproval(ctx, s.rdb, orgID, id)
}

func (s *Store) getApproval(ctx context.Context, db *sql.DB, orgID, id string) (approval.Request, error) {
	row := db.QueryRowContext(ctx, s.q(`SELECT `+approvalColumns+` FROM chatnotify_approvals
		WHERE org_id = ? AND id = ?`), orgID, id)
	r, err := s.scanApproval(row)
	if errors.Is(err, sql.ErrNoRows) {
		return approval.Request{}, approval.ErrNotFound
	}
	return r, err
}

// DecideApproval implements [approval.ApprovalStore]. The status check,
// the deadline check and the change are one UPDATE … WHERE org_id = ? AND
// id = ? AND status = 'pending'; only when it changes nothing does a read
// tell why.
func (s *Store) DecideApproval(ctx context.Context, orgID, id string, o approval.Outcome) (approval.Request, error) {
	switch o.Status {
	case approval.StatusApproved, approval.StatusDenied, approval.StatusExpired:
	default:
		return approval.Request{}, s.errorf("DecideApproval: cannot move a request to status %q", o.Status)
	}
	if o.At.IsZero() {
		o.At = s.now()
	}
	at := s.t(o.At)
	// An expiry may be recorded at any time; a decision only before the
	// deadline (Request.Expired: expired once At >= ExpiresAt).
	deadline := ""
	args := []any{string(o.Status), at, o.ReviewedBy, o.ReviewerID, string(o.Source), o.Notes, orgID, id}
	if o.Status != approval.StatusExpired {
		deadline = ` AND (expires_at IS NULL OR expires_at > ?)`
		args = append(args, at)
	}
	query := s.q(`UPDATE chatnotify_approvals
		SET status = ?, reviewed_at = ?, reviewed_by = ?, reviewer_id = ?, review_source = ?, review_notes = ?
		WHERE org_id = ? AND id = ? AND status = 'pending'` + deadline + `
		RETURNING ` + approvalColumns)

	// A request created between a write that found nothing and the read
	// that follows is pending and due; trying again decides it. Bounded,
	// since it needs a create racing each attempt.
	for range 3 {
		// The decision and the job updating its copies commit together.
		var r approval.Request
		err := s.handOff(ctx, func(db querier) ([]jobq.Job, error) {
			var err error
			r, err = s.scanApproval(db.QueryRowContext(ctx, query, args...))
			return []jobq.Job{jobq.DecidedJob(r.OrgID, r.ID)}, err
		})
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return approval.Request{}, err
		}
		// Nothing changed: say why. Read through the writer, which sees
		// every committed write.
		cur, err := s.getApproval(ctx, s.wdb, orgID, id)
		switch {
		case err != nil:
			return approval.Request{}, err
		case cur.Status != approval.StatusPending:
			return cur, approval.ErrNotPending
		case o.Status != approval.StatusExpired && cur.Expired(o.At):
			return cur, approval.ErrExpired
		}
	}
	return approval.Request{}, s.errorf("DecideApproval: the request kept changing; try again")
}

// listExpiredQuery reads the index chatnotify_approvals_pending on
// (status, expires_at) in order from its start, and stops after LIMIT
// rows however many requests are due. Ties are left unordered: a second
// sort key would make the database sort every due row before applying
// the limit.
const listExpiredQuery = `SELECT ` + approvalColumns + ` FROM chatnotify_approvals
	WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?
	ORDER BY expires_at
	LIMIT ?`

// ListExpired implements [approval.ExpiryLister] through an index, so a
// sweep costs the same with ten pending requests or a million. It lists
// the requests of every organisation.
func (s *Store) ListExpired(ctx context.Context, now time.Time, limit int) ([]approval.Request, error) {
	rows, err := s.rdb.QueryContext(ctx, s.q(listExpiredQuery), s.t(now), max(limit, 0))
	if err != nil {
		return nil, s.dbError("listing expired approval requests", err)
	}
	defer rows.Close()
	var out []approval.Request
	for rows.Next() {
		r, err := s.scanApproval(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError("listing expired approval requests", err)
	}
	return out, nil
}

func (s *Store) scanApproval(row scanner) (approval.Request, error) {
	var (
		r           approval.Request
		status, src string
		reviewedAt  time.Time
	)
	err := row.Scan(&r.ID, &r.OrgID, &r.Title, &r.Description, &r.Agent, &r.Action, &r.RiskScore,
		&r.RequestedBy, &r.ConsoleURL, &status, timeDest{&r.CreatedAt}, timeDest{&r.ExpiresAt}, timeDest{&reviewedAt},
		&r.ReviewedBy, &r.ReviewerID, &src, &r.ReviewNotes)
	if errors.Is(err, sql.ErrNoRows) {
		return approval.Request{}, err
	}
	if err != nil {
		return approval.Request{}, s.dbError("reading an approval request", err)
	}
	r.Status = approval.Status(status)
	r.ReviewSource = approval.Source(src)
	if !reviewedAt.IsZero() {
		r.ReviewedAt = &reviewedAt
	}
	return r, nil
}
