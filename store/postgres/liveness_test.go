package postgres

import (
	"context"
	"hash/fnv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify"
)

// The jobs a dead process left running are queued again within seconds
// (sqlstore's liveness locks): those of a client named like chatnotify's
// whose lock nobody holds; not those of a client whose lock is held (a
// live process), nor those of a client named otherwise (River's rescuer
// deals with them).
func TestDurableDeadClientsJobsRequeued(t *testing.T) {
	b := queueBackend(t)
	loc := b.New(t)
	st := b.Open(t, loc)
	sender, err := notify.NewSender(&notify.SenderOptions{AllowLoopbackURLs: true})
	require.NoError(t, err)
	d, err := notify.NewDispatcher(st, sender, &notify.DispatcherOptions{Durable: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Close(ctx)
		_ = st.Close()
	})
	raw := b.Raw(t, loc)
	ctx := t.Context()

	// A live process of this release: it holds its client's lock.
	const live = "chatnotify-live-000000000000000000alive"
	liveConn, err := raw.Conn(ctx)
	require.NoError(t, err)
	defer liveConn.Close()
	h := fnv.New32a()
	h.Write([]byte(live))
	var ok bool
	require.NoError(t, liveConn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(0x636e6c76), int32(h.Sum32())).Scan(&ok))
	require.True(t, ok)

	running := func(client string) int64 {
		var id int64
		require.NoError(t, raw.QueryRowContext(ctx, `INSERT INTO `+b.Jobs+` (args, attempt, attempted_at, attempted_by, kind,
			max_attempts, priority, queue, state, scheduled_at) VALUES ('{"org_id":"acme","approval_id":"gone","channel_id":"gone"}',
			1, now(), ARRAY[$1], 'chatnotify.post', 200, 1, 'default', 'running', now()) RETURNING id`, client).Scan(&id))
		return id
	}
	dead, alive, other := running("chatnotify-live-0000000000000000000dead"), running(live), running("somehost_2026_12_02T01_00_00_000000")
	start := time.Now()
	state := func(id int64) (s string, attempts int) {
		require.NoError(t, raw.QueryRowContext(ctx, `SELECT state, coalesce(array_length(attempted_by, 1), 0) FROM `+b.Jobs+` WHERE id = $1`, id).Scan(&s, &attempts))
		return s, attempts
	}
	require.Eventually(t, func() bool {
		_, n := state(dead)
		return n == 2 // worked again, by this process's client
	}, 15*time.Second, 100*time.Millisecond, "the dead client's job was not worked again")
	took := time.Since(start)
	s, _ := state(dead)
	t.Logf("a dead client's running job worked again after %s (state now %s)", took.Round(time.Millisecond), s)
	assert.GreaterOrEqual(t, took, 3*time.Second, "reset before the grace for a live process whose lock's connection broke")
	for _, id := range []int64{alive, other} {
		s, n := state(id)
		assert.Equal(t, "running", s, "job %d", id)
		assert.Equal(t, 1, n, "job %d", id)
	}
}
