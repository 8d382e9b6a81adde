package postgres

import (
	"testing"

	"github.com/chatnotify/chatnotify/internal/queuetest"
)

// The deliveries log, Retry and the Sweep on the durable queue, with two
// Dispatchers (two pools, two River clients) on one database where two
// are needed.
func TestDurableDeliveries(t *testing.T) { queuetest.RunDeliveries(t, queueBackend(t)) }

func TestDurableRetryRace(t *testing.T) {
	won, lost := queuetest.RunRetryRace(t, queueBackend(t), 5, 8)
	t.Logf("5 failed deliveries, 8 concurrent retries each across 2 Dispatchers: %d won, %d lost with ErrConflict", won, lost)
}

func TestDurableSweep(t *testing.T) { queuetest.RunSweep(t, queueBackend(t)) }

func TestDurableClose(t *testing.T) { queuetest.RunClose(t, queueBackend(t)) }
