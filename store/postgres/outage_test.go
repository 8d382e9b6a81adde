package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/pgtest"
	"github.com/chatnotify/chatnotify/internal/queuetest"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
	"github.com/chatnotify/chatnotify/internal/sqlstore"
)

// TestDurableOutages runs the fake-platform outages (60 s of 5xx, a 429
// storm, a hanging destination) against a real PostgreSQL database of
// its own per test, with the queue's retry backoff shortened so the test
// waits for the outage, not for the backoff. Without
// CHATNOTIFY_TEST_POSTGRES it is skipped, and fails under CI=true.
func TestDurableOutages(t *testing.T) {
	pgtest.ServerDSN(t)
	b := queueBackend(t)
	b.New = func(t *testing.T) string { return pgtest.NewDatabase(t) }
	b.Open = func(t *testing.T, loc string) *sqlstore.Store {
		s, err := Open(t.Context(), loc, &Options{queue: riverqueue.Config{
			RetryBase: queuetest.OutageRetryBase, RetryCap: queuetest.OutageRetryCap}})
		require.NoError(t, err)
		return s
	}
	queuetest.RunOutages(t, b)
}
