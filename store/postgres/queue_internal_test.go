package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/pgtest"
	"github.com/chatnotify/chatnotify/internal/queuetest"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
	"github.com/chatnotify/chatnotify/internal/sqlstore"
)

// queueBackend gives each test a database of its own on
// CHATNOTIFY_TEST_POSTGRES.
func queueBackend(t *testing.T) queuetest.Backend {
	base := pgtest.ServerDSN(t) // skips without a server, fails under CI=true
	return queuetest.Backend{
		New: func(t *testing.T) string {
			name := fmt.Sprintf("cnq_%d", time.Now().UnixNano())
			admin, err := sql.Open("pgx", base)
			require.NoError(t, err)
			defer admin.Close()
			_, err = admin.ExecContext(t.Context(), `CREATE DATABASE `+name)
			require.NoError(t, err)
			t.Cleanup(func() {
				admin, err := sql.Open("pgx", base)
				if err != nil {
					return
				}
				defer admin.Close()
				_, _ = admin.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			})
			i := strings.LastIndex(base, "/")
			rest := base[i+1:]
			q := ""
			if j := strings.Index(rest, "?"); j >= 0 {
				q = rest[j:]
			}
			return base[:i+1] + name + q
		},
		Open: func(t *testing.T, loc string) *sqlstore.Store {
			s, err := Open(t.Context(), loc, &Options{queue: riverqueue.Config{RetryBase: 200 * time.Millisecond, RetryCap: 2 * time.Second}})
			require.NoError(t, err)
			return s
		},
		Raw: func(t *testing.T, loc string) *sql.DB {
			db, err := sql.Open("pgx", loc)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
		Jobs: riverSchema + ".river_job",
		Q: func(q string) string {
			var b strings.Builder
			n := 0
			for _, c := range q {
				if c == '?' {
					n++
					fmt.Fprintf(&b, "$%d", n)
					continue
				}
				b.WriteRune(c)
			}
			return b.String()
		},
	}
}

var _ = stdlib.GetDefaultDriver

func TestDurableQueue(t *testing.T) { queuetest.Run(t, queueBackend(t)) }

// Two River clients (two pools) on one database post 30 requests to one
// Slack channel: the limiter shared through chatnotify_channel_rate keeps
// the combined rate at about 1/1.05 s.
func TestDurableRateAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 35 s")
	}
	rate, minGap := queuetest.RunRate(t, queueBackend(t), 30)
	t.Logf("30 posts to one channel from 2 River clients: combined rate %.3f msg/s, smallest gap %s", rate, minGap)
	assert.LessOrEqual(t, rate, 1.2)
}

func TestRiverMigrations(t *testing.T) {
	s := RiverMigrations()
	require.Contains(t, s, "CREATE TABLE chatnotify_river.river_job")
}
