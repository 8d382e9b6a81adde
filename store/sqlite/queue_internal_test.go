package sqlite

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/queuetest"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
	"github.com/chatnotify/chatnotify/internal/sqlstore"
)

func queueBackend() queuetest.Backend {
	return queuetest.Backend{
		New: func(t *testing.T) string { return migratedPath(t, "q.db") },
		Open: func(t *testing.T, loc string) *sqlstore.Store {
			s, err := Open(t.Context(), loc, &Options{queue: riverqueue.Config{RetryBase: 200 * time.Millisecond, RetryCap: 2 * time.Second}})
			require.NoError(t, err)
			return s
		},
		Raw: func(t *testing.T, loc string) *sql.DB {
			db, err := sql.Open("sqlite", loc+"?"+connParams)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
		Jobs: "river_job",
		Q:    func(q string) string { return q },
	}
}

func TestDurableQueue(t *testing.T) { queuetest.Run(t, queueBackend()) }

func TestRiverMigrations(t *testing.T) {
	sql := RiverMigrations()
	require.Contains(t, sql, "CREATE TABLE river_job")
}
