package sqlstore

import "context"

// ExplainListExpired returns SQLite's plan for the ListExpired query, one
// line per step.
func (s *Store) ExplainListExpired(ctx context.Context) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+listExpiredQuery, s.t(norm(s.now())), 100)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		plan = append(plan, detail)
	}
	return plan, rows.Err()
}
