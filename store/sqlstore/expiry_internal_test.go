package sqlstore

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The sweep's query is answered from the index on (status, expires_at),
// in index order: SQLite neither scans the table nor sorts the due rows
// (a "TEMP B-TREE" step) before applying the limit.
func TestListExpiredUsesTheIndexOnSQLite(t *testing.T) {
	s, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "plan.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rows, err := s.rdb.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+listExpiredQuery, s.t(time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if len(plan) != 1 || !strings.Contains(text, "USING INDEX chatnotify_approvals_pending") || strings.Contains(text, "TEMP B-TREE") {
		t.Errorf("query plan:\n%s\nwant a single search of chatnotify_approvals_pending, without a sort", text)
	}
}
