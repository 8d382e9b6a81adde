package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ExplainDeliveries returns the database's plan of each query of the
// deliveries log, by name, one line per step, for the channel ch of org,
// after analysing the table.
// On PostgreSQL, sequential scans are disabled for the transaction, so
// that the plan shows what the indexes allow rather than what a small
// table makes cheapest.
func (s *Store) ExplainDeliveries(ctx context.Context, org, ch string) (map[string][]string, error) {
	now := s.t(norm(time.Now()))
	queries := map[string]struct {
		q    string
		args []any
	}{
		"get":         {`SELECT ` + deliveryColumns + ` FROM chatnotify_deliveries WHERE org_id = ? AND id = ?`, []any{org, "d-1"}},
		"list":        {listDeliveriesQuery, []any{org, ch, 20}},
		"list before": {listDeliveriesBeforeQuery, []any{org, ch, now, "d-1", 20}},
		"health": {channelHealthQuery, []any{org, ch, org, ch, org, ch, org, ch, org, ch, org, ch,
			s.t(time.Unix(0, 0))}},
	}
	if s.d.Kind == PostgreSQL {
		// PostgreSQL's planner goes by size: give it a log of some
		// weight, 20,000 deliveries over 20 channels of 2 organisations.
		if _, err := s.wdb.ExecContext(ctx, `INSERT INTO chatnotify_deliveries
			(org_id, id, channel_id, op, status, reason, created_at, updated_at, delivered_at)
			SELECT 'org-' || (i % 2), 'bulk-' || i, 'c-' || (i % 20), 'post',
				(ARRAY['delivered', 'delivered', 'delivered', 'pending', 'failed'])[i % 5 + 1],
				CASE WHEN i % 5 >= 3 AND i % 3 = 0 THEN 'timeout' ELSE '' END,
				now() - i * interval '1 second', now() - i * interval '1 second',
				CASE WHEN i % 5 < 3 THEN now() - i * interval '1 second' END
			FROM generate_series(0, 19999) AS i`); err != nil {
			return nil, err
		}
	}
	if _, err := s.wdb.ExecContext(ctx, `ANALYZE chatnotify_deliveries`); err != nil {
		return nil, err
	}
	query := s.rdb.QueryContext
	prefix := "EXPLAIN QUERY PLAN "
	if s.d.Kind == PostgreSQL {
		tx, err := s.wdb.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return nil, err
		}
		query, prefix = tx.QueryContext, "EXPLAIN (COSTS OFF) "
	}
	out := map[string][]string{}
	for name, q := range queries {
		rows, err := query(ctx, prefix+s.q(q.q), q.args...)
		if err != nil {
			return nil, err
		}
		plan, err := planLines(rows, s.d.Kind)
		if err != nil {
			return nil, err
		}
		out[name] = plan
	}
	return out, nil
}

func planLines(rows *sql.Rows, k Kind) ([]string, error) {
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		var err error
		if k == PostgreSQL {
			err = rows.Scan(&line)
		} else {
			var id, parent, unused int
			err = rows.Scan(&id, &parent, &unused, &line)
		}
		if err != nil {
			return nil, err
		}
		plan = append(plan, line)
	}
	return plan, errors.Join(rows.Err(), rows.Close())
}
