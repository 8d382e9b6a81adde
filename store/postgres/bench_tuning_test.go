package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/internal/pgtest"
	"github.com/chatnotify/chatnotify/internal/queuetest"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
)

// BenchmarkFanOut1000Tuning is notify's BenchmarkDurableFanOut1000 on
// PostgreSQL (one approval request to 1,000 Slack channels, a fake
// answering after 5 ms, rate limit on) with the queue's River settings
// and the store's pool varied, to find what keeps the wall time from the
// ideal (1,000 / MaxWorkers × 5 ms). scripts/bench-delivery.sh runs it.
func BenchmarkFanOut1000Tuning(b *testing.B) {
	type variant struct {
		workers             int
		cooldown, pollEvery time.Duration
		conns               int
	}
	for _, v := range []variant{
		{100, 20 * time.Millisecond, 50 * time.Millisecond, 10}, // the defaults
		{100, 20 * time.Millisecond, 50 * time.Millisecond, 50},
		{100, 5 * time.Millisecond, 50 * time.Millisecond, 10},
		{100, 5 * time.Millisecond, 50 * time.Millisecond, 50},
		{100, 5 * time.Millisecond, 10 * time.Millisecond, 50},
		{100, 2 * time.Millisecond, 10 * time.Millisecond, 100},
		{50, 5 * time.Millisecond, 50 * time.Millisecond, 50},
		{200, 5 * time.Millisecond, 50 * time.Millisecond, 100},
	} {
		name := fmt.Sprintf("workers=%d/cooldown=%s/poll=%s/conns=%d", v.workers, v.cooldown, v.pollEvery, v.conns)
		b.Run(name, func(b *testing.B) {
			bb := tuningBackend(riverqueue.Config{MaxWorkers: v.workers, FetchCooldown: v.cooldown, FetchPollInterval: v.pollEvery}, v.conns)
			queuetest.BenchDeliver(b, bb, queuetest.Deliver{Events: 1, Channels: 1000, Latency: 5 * time.Millisecond, RateLimit: true})
		})
	}
}

func tuningBackend(cfg riverqueue.Config, conns int) queuetest.BenchBackend {
	return queuetest.BenchBackend{
		New: func(tb testing.TB) string { return pgtest.NewDatabase(tb) },
		Open: func(tb testing.TB, loc string) queuetest.BenchStore {
			st, err := Open(context.Background(), loc, &Options{MaxOpenConns: conns, queue: cfg})
			if err != nil {
				tb.Fatal(err)
			}
			return st
		},
		Durable:     true,
		Concurrency: cfg.MaxWorkers,
		Raw: func(tb testing.TB, loc string) *sql.DB {
			db, err := sql.Open("pgx", loc)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { db.Close() })
			return db
		},
		Jobs: riverSchema + ".river_job",
	}
}
