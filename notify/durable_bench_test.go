package notify_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/internal/pgtest"
	"github.com/chatnotify/chatnotify/internal/queuetest"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/memstore"
	"github.com/chatnotify/chatnotify/store/postgres"
	"github.com/chatnotify/chatnotify/store/sqlite"
)

// The delivery benchmarks of issue 9 on every store, at the defaults a
// host gets (the durable queue on SQLite and PostgreSQL, the in-memory
// one on memstore), side by side in one run: scripts/bench-delivery.sh
// runs them and compares the stores with benchstat (-col /store).
// PostgreSQL comes from CHATNOTIFY_TEST_POSTGRES (each benchmark its own
// database); without it those sub-benchmarks are skipped (failed under
// CI=true).

// riverMaxWorkers is the durable queue's default concurrency (River's
// MaxWorkers, internal/riverqueue), for the ideal wall time; the
// in-memory queue's is DispatcherOptions.Workers, 16 by default.
const (
	riverMaxWorkers = 100
	memoryWorkers   = 16
)

type benchBackend struct {
	name string
	bb   queuetest.BenchBackend
}

func benchBackends() []benchBackend {
	return []benchBackend{
		{"memory", queuetest.BenchBackend{
			New:         func(testing.TB) string { return "" },
			Open:        func(testing.TB, string) queuetest.BenchStore { return memstore.New() },
			Concurrency: memoryWorkers,
		}},
		{"sqlite", queuetest.BenchBackend{
			New: func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "bench.db") },
			Open: func(tb testing.TB, loc string) queuetest.BenchStore {
				st, err := sqlite.Open(context.Background(), loc, nil)
				if err != nil {
					tb.Fatal(err)
				}
				return st
			},
			Durable:     true,
			Concurrency: riverMaxWorkers,
			Raw:         rawPool("sqlite", "?_pragma=busy_timeout(10000)&_pragma=query_only(1)"),
			Jobs:        "river_job",
		}},
		{"postgres", queuetest.BenchBackend{
			New: func(tb testing.TB) string { return pgtest.NewDatabase(tb) },
			Open: func(tb testing.TB, loc string) queuetest.BenchStore {
				st, err := postgres.Open(context.Background(), loc, nil)
				if err != nil {
					tb.Fatal(err)
				}
				return st
			},
			Durable:     true,
			Concurrency: riverMaxWorkers,
			Raw:         rawPool("pgx", ""),
			Jobs:        "chatnotify_river.river_job",
		}},
	}
}

func rawPool(driver, params string) func(tb testing.TB, loc string) *sql.DB {
	return func(tb testing.TB, loc string) *sql.DB {
		db, err := sql.Open(driver, loc+params)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return db
	}
}

// BenchmarkDurableAccept: accepting work, p50 and p99 (ns/op is the mean):
// creating an approval request with its jobs, the same insert with no
// queue (SQL stores), and Enqueue of a drift alert.
func BenchmarkDurableAccept(b *testing.B) {
	for _, be := range benchBackends() {
		for _, op := range []string{"create", "create-nojobs", "enqueue"} {
			if op == "create-nojobs" && !be.bb.Durable {
				continue
			}
			b.Run(fmt.Sprintf("store=%s/op=%s", be.name, op), func(b *testing.B) {
				queuetest.BenchAccept(b, be.bb, op)
			})
		}
	}
}

// BenchmarkDurableDeliver: deliveries/s to a fake answering at once; each
// op is 10 events × 100 Slack channels (rate limit off: it would pace
// each channel's ten posts to one a second), on one and (PostgreSQL) two
// Dispatchers on one database; event=approval raises approval requests
// (each post reads the request and records its copy), event=drift
// enqueues drift alerts (neither).
func BenchmarkDurableDeliver(b *testing.B) {
	for _, be := range benchBackends() {
		for _, replicas := range []int{1, 2} {
			for _, event := range []string{"approval", "drift"} {
				if replicas > 1 && be.name != "postgres" {
					continue // SQLite's queue is single-process; memory is per process
				}
				b.Run(fmt.Sprintf("store=%s/replicas=%d/event=%s", be.name, replicas, event), func(b *testing.B) {
					queuetest.BenchDeliver(b, be.bb, queuetest.Deliver{Replicas: replicas, Events: 10, Channels: 100, Drift: event == "drift"})
				})
			}
		}
	}
}

// BenchmarkDurableFanOut1000: one event to 1,000 Slack channels, a fake
// answering after 5 ms, the per-channel rate limit on (each channel gets
// one post); event=approval (an approval request: each post reads it and
// records its copy) and event=drift (a drift alert); x_ideal is the wall
// time over the ideal, 1,000 / concurrency × 5 ms (issue 9's target on
// PostgreSQL: ≤ 1.3).
//
// store=memory-w100 is the in-memory queue with as many workers as the
// durable one (Workers 100 instead of 16): the same ideal, without a
// database.
func BenchmarkDurableFanOut1000(b *testing.B) {
	backends := benchBackends()
	w100 := backends[0]
	w100.name, w100.bb.Concurrency = "memory-w100", riverMaxWorkers
	w100.bb.Options = func(o *notify.DispatcherOptions) { o.Workers = riverMaxWorkers }
	backends = append(backends[:1], append([]benchBackend{w100}, backends[1:]...)...)
	for _, be := range backends {
		for _, event := range []string{"approval", "drift"} {
			b.Run(fmt.Sprintf("store=%s/event=%s", be.name, event), func(b *testing.B) {
				queuetest.BenchDeliver(b, be.bb, queuetest.Deliver{Events: 1, Channels: 1000, Latency: 5 * time.Millisecond,
					RateLimit: true, Drift: event == "drift"})
			})
		}
	}
}

// BenchmarkDurablePending10k: the memory of 10,000 pending jobs (heap and
// RSS of the process, and per job). Run with -benchtime=1x.
func BenchmarkDurablePending10k(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run("store="+be.name, func(b *testing.B) {
			queuetest.BenchPending(b, be.bb, 10000)
		})
	}
}
