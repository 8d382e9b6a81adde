package sqlite

import (
	"testing"

	"github.com/chatnotify/chatnotify/internal/queuetest"
)

// TestDurableLease: two River clients (two pools, as two processes) on one
// file never have two sends in flight to one destination, and a hanging
// destination holds one worker and slows no other.
func TestDurableLease(t *testing.T) { queuetest.RunLease(t, queueBackend()) }
