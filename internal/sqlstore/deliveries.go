package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/chatnotify/chatnotify/internal/jobq"
	"github.com/chatnotify/chatnotify/notify"
)

var _ notify.DeliveryStore = (*Store)(nil)

// Deliveries returns s, which is its own deliveries log: it implements
// [notify.DeliveryStore]. It is there so that a host wires every store
// of chatnotify the same way (store/memstore's Store has the same
// method), as DispatcherOptions.Deliveries and
// SettingsOptions.Deliveries.
func (s *Store) Deliveries() notify.DeliveryStore { return s }

const deliveryColumns = `org_id, id, channel_id, event, approval_id, op, status, attempts, reason, code,
	created_at, updated_at, delivered_at, first_failed_at, retry`

// saveDeliveryQuery inserts a delivery or replaces every column of the
// stored one but created_at, in one statement.
const saveDeliveryQuery = `INSERT INTO chatnotify_deliveries (` + deliveryColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (org_id, id) DO UPDATE SET
		channel_id = excluded.channel_id, event = excluded.event, approval_id = excluded.approval_id,
		op = excluded.op, status = excluded.status, attempts = excluded.attempts, reason = excluded.reason,
		code = excluded.code, updated_at = excluded.updated_at, delivered_at = excluded.delivered_at,
		first_failed_at = excluded.first_failed_at, retry = excluded.retry`

// SaveDelivery implements [notify.DeliveryStore].
func (s *Store) SaveDelivery(ctx context.Context, d notify.Delivery) error {
	if d.OrgID == "" || d.ID == "" || d.ChannelID == "" {
		return s.errorf("SaveDelivery: the delivery needs an OrgID, an ID and a ChannelID")
	}
	now := s.timestamp()
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = now
	}
	var retry any // NULL for none
	if d.Retry != nil {
		retry = string(d.Retry)
	}
	_, err := s.wdb.ExecContext(ctx, s.q(saveDeliveryQuery),
		d.OrgID, d.ID, d.ChannelID, string(d.Event), d.ApprovalID, d.Op, d.Status, d.Attempts, d.Reason, d.Code,
		s.t(d.CreatedAt), s.t(d.UpdatedAt), s.tp(d.DeliveredAt), s.tp(d.FirstFailedAt), retry)
	if err != nil {
		return s.dbError("saving a delivery", err)
	}
	return nil
}

// GetDelivery implements [notify.DeliveryStore].
func (s *Store) GetDelivery(ctx context.Context, orgID, id string) (notify.Delivery, error) {
	row := s.rdb.QueryRowContext(ctx, s.q(`SELECT `+deliveryColumns+` FROM chatnotify_deliveries
		WHERE org_id = ? AND id = ?`), orgID, id)
	d, err := s.scanDelivery(row)
	if errors.Is(err, sql.ErrNoRows) {
		return notify.Delivery{}, notify.ErrNotFound
	}
	return d, err
}

// listDeliveriesQuery is the first page of a channel's deliveries;
// listDeliveriesBeforeQuery a later one. Both are one range of
// chatnotify_deliveries_channel, read backwards.
const (
	listDeliveriesQuery = `SELECT ` + deliveryColumns + ` FROM chatnotify_deliveries
		WHERE org_id = ? AND channel_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`
	listDeliveriesBeforeQuery = `SELECT ` + deliveryColumns + ` FROM chatnotify_deliveries
		WHERE org_id = ? AND channel_id = ? AND (created_at, id) < (?, ?)
		ORDER BY created_at DESC, id DESC LIMIT ?`
)

// ListDeliveries implements [notify.DeliveryStore] with keyset
// pagination on (created_at, id).
func (s *Store) ListDeliveries(ctx context.Context, orgID, channelID string, before notify.Delivery, limit int) ([]notify.Delivery, error) {
	out := []notify.Delivery{}
	if limit <= 0 {
		return out, nil
	}
	var (
		rows *sql.Rows
		err  error
	)
	if before.ID == "" {
		rows, err = s.rdb.QueryContext(ctx, s.q(listDeliveriesQuery), orgID, channelID, limit)
	} else {
		rows, err = s.rdb.QueryContext(ctx, s.q(listDeliveriesBeforeQuery), orgID, channelID,
			s.t(s.timeArg(before.CreatedAt)), before.ID, limit)
	}
	if err != nil {
		return nil, s.dbError("listing deliveries", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := s.scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError("listing deliveries", err)
	}
	return out, nil
}

// failingDelivery is the SQL of a failing delivery (see [notify.Health]).
// chatnotify_deliveries_failing is a partial index on exactly this
// predicate, so it must stay written the same way in both.
const failingDelivery = `(status = 'failed' OR (status = 'pending' AND reason <> ''))`

// channelHealthQuery computes a channel's health in one statement of
// scalar subqueries, each one range of an index (see the migration
// 0003_deliveries). The failing-since subquery only looks at failing
// deliveries updated after the last success (after the epoch when there
// is none).
const channelHealthQuery = `SELECT
	(SELECT COUNT(*) FROM chatnotify_deliveries WHERE org_id = ? AND channel_id = ? AND status = 'pending'),
	(SELECT COUNT(*) FROM chatnotify_deliveries WHERE org_id = ? AND channel_id = ? AND status = 'failed'),
	(SELECT MAX(delivered_at) FROM chatnotify_deliveries
		WHERE org_id = ? AND channel_id = ? AND delivered_at IS NOT NULL),
	(SELECT reason FROM chatnotify_deliveries WHERE org_id = ? AND channel_id = ? AND ` + failingDelivery + `
		ORDER BY updated_at DESC, id DESC LIMIT 1),
	(SELECT MIN(COALESCE(first_failed_at, updated_at)) FROM chatnotify_deliveries
		WHERE org_id = ? AND channel_id = ? AND ` + failingDelivery + ` AND updated_at > COALESCE(
			(SELECT MAX(delivered_at) FROM chatnotify_deliveries
				WHERE org_id = ? AND channel_id = ? AND delivered_at IS NOT NULL), ?))`

// ChannelHealth implements [notify.DeliveryStore].
func (s *Store) ChannelHealth(ctx context.Context, orgID, channelID string) (notify.Health, error) {
	var (
		h                notify.Health
		delivered, since time.Time
		lastError        sql.NullString
		pending, failedN int64
	)
	err := s.rdb.QueryRowContext(ctx, s.q(channelHealthQuery),
		orgID, channelID, orgID, channelID, orgID, channelID, orgID, channelID, orgID, channelID, orgID, channelID,
		s.t(time.Unix(0, 0))).
		Scan(&pending, &failedN, timeDest{&delivered}, &lastError, timeDest{&since})
	if err != nil {
		return notify.Health{}, s.dbError("computing a channel's health", err)
	}
	h.Pending, h.Failed, h.LastError = int(pending), int(failedN), lastError.String
	if !delivered.IsZero() {
		h.LastDeliveredAt = &delivered
	}
	if !since.IsZero() {
		if !delivered.IsZero() && since.Before(delivered) {
			since = delivered
		}
		h.FailingSince = &since
	}
	return h, nil
}

// tp converts an optional time to a query argument; nil becomes NULL.
func (s *Store) tp(v *time.Time) any {
	if v == nil {
		return nil
	}
	return s.t(*v)
}

// timeArg returns v, or the epoch for the zero time (which s.t would
// turn into NULL).
func (s *Store) timeArg(v time.Time) time.Time {
	if v.IsZero() {
		return time.Unix(0, 0)
	}
	return v
}

func (s *Store) scanDelivery(row scanner) (notify.Delivery, error) {
	var (
		d                      notify.Delivery
		event                  string
		delivered, firstFailed time.Time
		retry                  sql.NullString
	)
	err := row.Scan(&d.OrgID, &d.ID, &d.ChannelID, &event, &d.ApprovalID, &d.Op, &d.Status, &d.Attempts,
		&d.Reason, &d.Code, timeDest{&d.CreatedAt}, timeDest{&d.UpdatedAt}, timeDest{&delivered},
		timeDest{&firstFailed}, &retry)
	if errors.Is(err, sql.ErrNoRows) {
		return notify.Delivery{}, err
	}
	if err != nil {
		return notify.Delivery{}, s.dbError("reading a delivery", err)
	}
	d.Event = notify.EventType(event)
	if !delivered.IsZero() {
		d.DeliveredAt = &delivered
	}
	if !firstFailed.IsZero() {
		d.FirstFailedAt = &firstFailed
	}
	if retry.Valid {
		d.Retry = json.RawMessage(retry.String)
	}
	return d, nil
}

// The durable queue's writes to the deliveries log (riverqueue's LogTx
// and RequeueTx), made in the transaction of the job they go with. They
// are not SaveDelivery's read-modify-write: a new delivery is inserted
// unless one has its ID (a unique job queued twice must not reset the
// delivery it shares), and the end of a try adds to the stored attempts
// and keeps the first failure's time, so no read is needed in the
// transaction.
const (
	logNewQuery = `INSERT INTO chatnotify_deliveries (` + deliveryColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, '', '', ?, ?, NULL, NULL, ?)
		ON CONFLICT (org_id, id) DO NOTHING`
	logTryQuery = `UPDATE chatnotify_deliveries SET status = ?, attempts = attempts + ?, reason = ?, code = ?,
		updated_at = ?, delivered_at = COALESCE(?, delivered_at), first_failed_at = COALESCE(first_failed_at, ?)
		WHERE org_id = ? AND id = ?`
	requeueQuery = `UPDATE chatnotify_deliveries SET status = 'pending', reason = '', code = '', updated_at = ?
		WHERE org_id = ? AND id = ? AND status = 'failed'`
)

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// logTx writes the deliveries log entries of the durable queue in q.
func (s *Store) logTx(ctx context.Context, q execer, logs ...jobq.Log) error {
	for _, l := range logs {
		at := s.t(s.timeArg(l.At))
		var err error
		if l.IsNew() {
			var retry any
			if l.Retry != nil {
				retry = string(l.Retry)
			}
			_, err = q.ExecContext(ctx, s.q(logNewQuery), l.OrgID, l.ID, l.ChannelID, l.Event, l.ApprovalID, l.Op, at, at, retry)
		} else {
			var delivered, failed any
			if l.Status == "delivered" {
				delivered = at
			} else if l.Reason != "" {
				failed = at
			}
			_, err = q.ExecContext(ctx, s.q(logTryQuery), l.Status, l.Attempts, l.Reason, l.Code, at, delivered, failed, l.OrgID, l.ID)
		}
		if err != nil {
			return s.dbError("saving a delivery", err)
		}
	}
	return nil
}

// requeueTx sets a failed delivery back to pending in q, and reports
// whether it was failed: of concurrent callers, one sees a row changed.
func (s *Store) requeueTx(ctx context.Context, q execer, orgID, id string, at time.Time) (bool, error) {
	res, err := q.ExecContext(ctx, s.q(requeueQuery), s.t(s.timeArg(at)), orgID, id)
	if err != nil {
		return false, s.dbError("retrying a delivery", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.dbError("retrying a delivery", err)
	}
	return n == 1, nil
}
