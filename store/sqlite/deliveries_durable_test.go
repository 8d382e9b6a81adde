package sqlite

import (
	"testing"

	"github.com/chatnotify/chatnotify/internal/queuetest"
)

// The deliveries log, Retry and the Sweep on the durable queue (SQLite:
// two stores on one file stand for two processes).
func TestDurableDeliveries(t *testing.T) { queuetest.RunDeliveries(t, queueBackend()) }

func TestDurableRetryRace(t *testing.T) {
	won, lost := queuetest.RunRetryRace(t, queueBackend(), 3, 6)
	t.Logf("3 failed deliveries, 6 concurrent retries each across 2 Dispatchers: %d won, %d lost with ErrConflict", won, lost)
}

func TestDurableSweep(t *testing.T) { queuetest.RunSweep(t, queueBackend()) }

func TestDurableClose(t *testing.T) { queuetest.RunClose(t, queueBackend()) }
