package sqlstore_test

import (
	"database/sql"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
)

// migrationDir is where each backend's store package keeps its
// migrations.
var migrationDir = map[string]string{"SQLite": "../../store/sqlite/migrations", "PostgreSQL": "../../store/postgres/migrations"}

// createVersion1 gives the empty database at loc the schema of version 1,
// as the release before organisation-scoped requests left it.
func createVersion1(t *testing.T, b backend, db *sql.DB) {
	t.Helper()
	v1, err := os.ReadFile(migrationDir[b.name] + "/0001_init.sql")
	require.NoError(t, err)
	applied := "TEXT NOT NULL"
	if b.numbered {
		applied = "TIMESTAMPTZ NOT NULL"
	}
	_, err = db.ExecContext(t.Context(), `CREATE TABLE chatnotify_schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at `+applied+`)`)
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), string(v1))
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), b.q(`INSERT INTO chatnotify_schema_migrations VALUES (1, '0001_init', ?)`), b.time(time.Now()))
	require.NoError(t, err)
}

// time returns t as the backend's time columns hold it.
func (b backend) time(t time.Time) any {
	if b.numbered {
		return t.UTC()
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// A database of version 1 is migrated in place: every row is kept, and
// requests, audit entries and posts become scoped to their organisation.
func TestMigrationFromVersion1KeepsDataAndScopesByOrg(t *testing.T) {
	at := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		loc := b.newDB(t)
		raw := b.rawDB(t, loc)
		createVersion1(t, b, raw)
		for _, r := range []struct{ id, status string }{{"r1", "pending"}, {"shared", "approved"}} {
			_, err := raw.ExecContext(ctx, b.q(`INSERT INTO chatnotify_approvals
				(id, org_id, title, risk_score, status, created_at, expires_at) VALUES (?, 'acme', 'Deploy', 42, ?, ?, ?)`),
				r.id, r.status, b.time(at), b.time(at.Add(time.Hour)))
			require.NoError(t, err)
		}
		for _, id := range []string{"old-1", "old-2"} {
			_, err := raw.ExecContext(ctx, b.q(`INSERT INTO chatnotify_audit (id, org_id, action, approval_id, at)
				VALUES (?, 'acme', 'approval.reviewed', 'shared', ?)`), id, b.time(at))
			require.NoError(t, err)
		}
		_, err := raw.ExecContext(ctx, b.q(`INSERT INTO chatnotify_posts (approval_id, org_id, channel_id, channel_type, receipt, posted_at)
			VALUES ('shared', 'acme', 'ch-1', 'slack', '{"slack_ts":"1.2"}', ?)`), b.time(at))
		require.NoError(t, err)

		s := b.openStore(t, loc, nil)
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, migrationRows(t, raw))

		// Requests: kept, found in their org only, and their IDs free in
		// another.
		r1, err := s.GetApproval(ctx, "acme", "r1")
		require.NoError(t, err)
		assert.Equal(t, approval.Request{ID: "r1", OrgID: "acme", Title: "Deploy", RiskScore: 42,
			Status: approval.StatusPending, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, r1)
		_, err = s.GetApproval(ctx, "globex", "r1")
		assert.ErrorIs(t, err, approval.ErrNotFound)
		_, err = s.CreateApproval(ctx, approval.Request{ID: "r1", OrgID: "globex", Title: "Theirs"})
		assert.NoError(t, err, "the same ID in another org")
		_, err = s.CreateApproval(ctx, approval.Request{ID: "r1", OrgID: "acme", Title: "Again"})
		assert.ErrorIs(t, err, approval.ErrConflict)
		due, err := s.ListExpired(ctx, at.Add(2*time.Hour), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		assert.Equal(t, r1, due[0])

		// Audit: kept in insertion order; entries written after the
		// migration come after them; entry IDs are unique per org.
		require.NoError(t, s.LogAudit(ctx, approval.AuditEntry{ID: "new", OrgID: "acme", Action: approval.AuditReviewed, ApprovalID: "shared", At: at}))
		require.NoError(t, s.LogAudit(ctx, approval.AuditEntry{ID: "old-1", OrgID: "globex", Action: approval.AuditReviewed, ApprovalID: "shared", At: at}))
		entries, err := s.ListAudit(ctx, "acme", approval.AuditFilter{ApprovalID: "shared"})
		require.NoError(t, err)
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		assert.Equal(t, []string{"new", "old-2", "old-1"}, ids)
		err = s.LogAudit(ctx, approval.AuditEntry{ID: "old-2", OrgID: "acme", Action: approval.AuditReviewed})
		assert.Error(t, err, "a taken entry ID in the same org")

		// Posts: kept, listed for their org only.
		posts, err := s.ListPosts(ctx, "acme", "shared")
		require.NoError(t, err)
		require.Len(t, posts, 1)
		assert.Equal(t, notify.Post{ApprovalID: "shared", OrgID: "acme", ChannelID: "ch-1", ChannelType: notify.Slack,
			Receipt: notify.Receipt{SlackTS: "1.2"}, PostedAt: at}, posts[0])
		posts, err = s.ListPosts(ctx, "globex", "shared")
		require.NoError(t, err)
		assert.Empty(t, posts)
	})
}

// After the migration, the queries an organisation's reads make are
// answered through indexes that start with org_id.
func TestVersion2IndexesStartWithOrg(t *testing.T) {
	b := backends[0]
	loc := b.newDB(t)
	b.openStore(t, loc, nil)
	rows, err := b.rawDB(t, loc).QueryContext(t.Context(),
		`SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'chatnotify_%' ORDER BY name`)
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	for _, want := range []string{"chatnotify_approvals_pending", "chatnotify_audit_org", "chatnotify_audit_org_approval", "chatnotify_posts_org_approval"} {
		assert.True(t, slices.Contains(names, want), "index %s missing from %v", want, names)
	}
	for _, gone := range []string{"chatnotify_audit_approval", "chatnotify_posts_approval"} {
		assert.False(t, slices.Contains(names, gone), "index %s should be gone", gone)
	}
}
