package sqlite

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/queuetest"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
	"github.com/chatnotify/chatnotify/internal/sqlstore"
)

// TestDurableOutages runs the fake-platform outages (60 s of 5xx, a 429
// storm, a hanging destination) against a real SQLite file, with the
// queue's retry backoff shortened so the test waits for the outage, not
// for the backoff.
func TestDurableOutages(t *testing.T) {
	b := queueBackend()
	b.Open = func(t *testing.T, loc string) *sqlstore.Store {
		s, err := Open(t.Context(), loc, &Options{queue: riverqueue.Config{
			RetryBase: queuetest.OutageRetryBase, RetryCap: queuetest.OutageRetryCap}})
		require.NoError(t, err)
		return s
	}
	queuetest.RunOutages(t, b)
}
