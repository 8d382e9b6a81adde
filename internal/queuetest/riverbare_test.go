package queuetest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/chatnotify/chatnotify/internal/pgtest"
)

// BenchmarkRiverBare is River's own throughput on this machine, without
// chatnotify: trivial jobs (a worker that only counts), bulk-inserted
// with InsertMany, so the delivery benchmarks' figures can be read as a
// ratio of it. It mirrors `river bench -n` (github.com/riverqueue/river
// cmd/river: jobs inserted first, then worked down, 2,000 workers,
// FetchCooldown 2 ms, FetchPollInterval 20 ms) as config=riverbench,
// and runs chatnotify's queue settings (100 workers, 20 ms, 50 ms) as
// config=chatnotify; mode=insertwork inserts into the running client in
// batches instead. Drivers: pgxv5 (what the CLI uses), databasesql
// (what store/postgres uses, 10 connections), sqlite (riversqlite on one
// connection, as store/sqlite).
func BenchmarkRiverBare(b *testing.B) {
	configs := []struct {
		name                string
		workers             int
		cooldown, pollEvery time.Duration
	}{
		{"riverbench", 2000, 2 * time.Millisecond, 20 * time.Millisecond},
		{"chatnotify", 100, 20 * time.Millisecond, 50 * time.Millisecond},
	}
	for _, drv := range []string{"pgxv5", "databasesql", "sqlite"} {
		for _, c := range configs {
			for _, mode := range []string{"workdown", "insertwork"} {
				b.Run(fmt.Sprintf("driver=%s/config=%s/mode=%s", drv, c.name, mode), func(b *testing.B) {
					cfg := &river.Config{
						Logger:            slog.New(slog.DiscardHandler),
						FetchCooldown:     c.cooldown,
						FetchPollInterval: c.pollEvery,
						Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: c.workers}},
					}
					n := 20000
					if drv == "sqlite" {
						n = 10000
					}
					switch drv {
					case "pgxv5":
						pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(b))
						if err != nil {
							b.Fatal(err)
						}
						b.Cleanup(pool.Close)
						benchRiver(b, riverpgxv5.New(pool), cfg, n, mode)
					case "databasesql":
						db, err := sql.Open("pgx", pgtest.NewDatabase(b))
						if err != nil {
							b.Fatal(err)
						}
						db.SetMaxOpenConns(10)
						b.Cleanup(func() { db.Close() })
						benchRiver(b, riverdatabasesql.New(db), cfg, n, mode)
					case "sqlite":
						db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "river.db")+
							"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
						if err != nil {
							b.Fatal(err)
						}
						db.SetMaxOpenConns(1)
						b.Cleanup(func() { db.Close() })
						benchRiver(b, riversqlite.New(db), cfg, n, mode)
					}
				})
			}
		}
	}
}

var _ = stdlib.GetDefaultDriver // registers "pgx"

type bareArgs struct {
	N int `json:"n"`
}

func (bareArgs) Kind() string { return "bench_bare" }

type bareWorker struct {
	river.WorkerDefaults[bareArgs]
	worked *atomic.Int64
	done   chan struct{}
	want   *atomic.Int64
}

func (w *bareWorker) Work(ctx context.Context, job *river.Job[bareArgs]) error {
	if w.worked.Add(1) == w.want.Load() {
		close(w.done)
	}
	return nil
}

func benchRiver[TTx any](b *testing.B, driver riverdriver.Driver[TTx], cfg *river.Config, n int, mode string) {
	ctx := context.Background()
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
	inserter, err := river.NewClient(driver, &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]river.InsertManyParams, 1000)
	for i := range batch {
		batch[i] = river.InsertManyParams{Args: bareArgs{N: i}}
	}
	insert := func(c *river.Client[TTx]) {
		for i := 0; i < n; i += len(batch) {
			if _, err := c.InsertMany(ctx, batch[:min(len(batch), n-i)]); err != nil {
				b.Fatal(err)
			}
		}
	}
	var jobs int64
	for b.Loop() {
		b.StopTimer()
		var worked, want atomic.Int64
		want.Store(int64(n))
		w := &bareWorker{worked: &worked, done: make(chan struct{}), want: &want}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		c := *cfg
		c.Workers = workers
		client, err := river.NewClient(driver, &c)
		if err != nil {
			b.Fatal(err)
		}
		if mode == "workdown" {
			insert(inserter)
		}
		b.StartTimer()
		if err := client.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if mode == "insertwork" {
			insert(client)
		}
		select {
		case <-w.done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d jobs worked in 5 minutes", worked.Load(), n)
		}
		b.StopTimer()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := client.Stop(sctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		jobs += int64(n)
		b.StartTimer()
	}
	b.ReportMetric(float64(jobs)/b.Elapsed().Seconds(), "jobs/s")
}
