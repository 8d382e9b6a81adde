package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/pgtest"
	"github.com/chatnotify/chatnotify/internal/sqlstore"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/postgres"
	"github.com/chatnotify/chatnotify/store/sqlite"
)

// backend is one database the shared store runs on.
type backend struct {
	name string
	// newDB returns the location (a file path, a DSN) of a new empty
	// database, removed after t.
	newDB func(t *testing.T) string
	// open opens a Store on the database at loc.
	open func(ctx context.Context, loc string, key []byte) (*sqlstore.Store, error)
	// raw opens the database at loc with database/sql directly, to look
	// at what is stored.
	raw func(loc string) (*sql.DB, error)
	// numbered: the dialect's placeholders are $1, $2, …
	numbered bool
}

var backends = []backend{
	{
		name:  "SQLite",
		newDB: func(t *testing.T) string { return filepath.Join(t.TempDir(), "chatnotify.db") },
		open: func(ctx context.Context, loc string, key []byte) (*sqlstore.Store, error) {
			return sqlite.Open(ctx, loc, &sqlite.Options{SecretKey: key})
		},
		raw: func(loc string) (*sql.DB, error) { return sql.Open("sqlite", loc+"?_pragma=busy_timeout(10000)") },
	},
	{
		name:  "PostgreSQL",
		newDB: func(t *testing.T) string { return pgtest.NewDatabase(t) },
		open: func(ctx context.Context, loc string, key []byte) (*sqlstore.Store, error) {
			return postgres.Open(ctx, loc, &postgres.Options{SecretKey: key, MaxOpenConns: 4})
		},
		raw:      func(loc string) (*sql.DB, error) { return sql.Open("pgx", loc) },
		numbered: true,
	},
}

// forEachBackend runs f as a subtest per backend; PostgreSQL's run in
// parallel, and are skipped without a test server (see pgtest).
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if b.numbered {
				pgtest.ServerDSN(t)
				t.Parallel()
			}
			f(t, b)
		})
	}
}

// openStore opens loc with key and closes it after t.
func (b backend) openStore(t *testing.T, loc string, key []byte) *sqlstore.Store {
	t.Helper()
	s, err := b.open(t.Context(), loc, key)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func (b backend) rawDB(t *testing.T, loc string) *sql.DB {
	t.Helper()
	db, err := b.raw(loc)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// q turns ? placeholders into the backend's.
func (b backend) q(query string) string {
	if !b.numbered {
		return query
	}
	for i := 1; strings.Contains(query, "?"); i++ {
		query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
	}
	return query
}

func migrationRows(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version FROM chatnotify_schema_migrations ORDER BY version`)
	require.NoError(t, err)
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		vs = append(vs, v)
	}
	require.NoError(t, rows.Err())
	return vs
}

func TestMigrationsAreIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		first := b.openStore(t, loc, nil)
		_, err := first.CreateApproval(t.Context(), approval.Request{ID: "kept", OrgID: "o", Title: "t"})
		require.NoError(t, err)
		want := migrationRows(t, b.rawDB(t, loc))
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, want)
		for range 3 {
			b.openStore(t, loc, nil)
		}
		assert.Equal(t, want, migrationRows(t, b.rawDB(t, loc)))
		_, err = b.openStore(t, loc, nil).GetApproval(t.Context(), "o", "kept")
		assert.NoError(t, err)
	})
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		const n = 8
		stores := make([]*sqlstore.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				stores[i], errs[i] = b.open(t.Context(), loc, nil)
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "Open %d", i)
			t.Cleanup(func() { stores[i].Close() })
		}
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, migrationRows(t, b.rawDB(t, loc)))
		for i, s := range stores {
			_, err := s.CreateChannel(t.Context(), notify.Channel{OrgID: "o", Type: notify.Teams, Name: fmt.Sprint(i)})
			assert.NoError(t, err, "store %d", i)
		}
	})
}

// A database with a newer migration that does not record which versions
// it is compatible with (compatible_from NULL: written by hand, or by a
// release that predates the column) is refused. Newer migrations that do
// record it are tested in compat_test.go.
func TestNewerSchemaIsRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		b.openStore(t, loc, nil)
		_, err := b.rawDB(t, loc).ExecContext(t.Context(), b.q(
			`INSERT INTO chatnotify_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			99, "0099_future", time.Now().UTC().Format(time.RFC3339Nano))
		require.NoError(t, err)
		_, err = b.open(t.Context(), loc, nil)
		require.ErrorContains(t, err, "newer than this build")
	})
}

// Two stores on one database stand for two processes: still exactly one
// decision wins.
func TestDecideAcrossStores(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		stores := []*sqlstore.Store{b.openStore(t, loc, nil), b.openStore(t, loc, nil)}
		_, err := stores[0].CreateApproval(t.Context(), approval.Request{ID: "r", OrgID: "o", Title: "t"})
		require.NoError(t, err)
		const n = 100
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = stores[i%2].DecideApproval(t.Context(), "o", "r",
					approval.Outcome{Status: approval.StatusApproved, At: time.Now(), ReviewedBy: fmt.Sprint(i)})
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
			} else {
				assert.ErrorIs(t, err, approval.ErrNotPending, "call %d", i)
			}
		}
		assert.Equal(t, 1, wins)
	})
}

func TestReopenKeepsData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		loc := b.newDB(t)
		s, err := b.open(ctx, loc, nil)
		require.NoError(t, err)
		ch, err := s.CreateChannel(ctx, notify.Channel{OrgID: "o", Type: notify.Slack, Name: "ops",
			Config: notify.ChannelConfig{BotToken: "xoxb-1", ChannelID: "C0123456789"}, Events: []notify.EventType{notify.EventApprovalRequest, notify.EventDriftAlert}, Enabled: true})
		require.NoError(t, err)
		r, err := s.CreateApproval(ctx, approval.Request{OrgID: "o", Title: "deploy", ExpiresAt: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		r, err = s.DecideApproval(ctx, "o", r.ID, approval.Outcome{Status: approval.StatusApproved, At: time.Now(), ReviewedBy: "amy"})
		require.NoError(t, err)
		require.NoError(t, s.LogAudit(ctx, approval.AuditEntry{OrgID: "o", Action: approval.AuditReviewed, ApprovalID: r.ID}))
		require.NoError(t, s.RecordPost(ctx, notify.Post{ApprovalID: r.ID, OrgID: "o", ChannelID: ch.ID, ChannelType: notify.Slack,
			Receipt: notify.Receipt{SlackChannel: "C0123456789", SlackTS: "1700000000.000100"}}))
		require.NoError(t, s.Close())

		s = b.openStore(t, loc, nil)
		gotCh, err := s.GetChannel(ctx, "o", ch.ID)
		require.NoError(t, err)
		assert.Equal(t, ch, gotCh)
		gotR, err := s.GetApproval(ctx, "o", r.ID)
		require.NoError(t, err)
		assert.Equal(t, r, gotR)
		audit, err := s.ListAudit(ctx, "o", approval.AuditFilter{})
		require.NoError(t, err)
		assert.Len(t, audit, 1)
		posts, err := s.ListPosts(ctx, "o", r.ID)
		require.NoError(t, err)
		require.Len(t, posts, 1)
		assert.Equal(t, "1700000000.000100", posts[0].Receipt.SlackTS)
	})
}

func TestOpenRejectsBadSecretKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		for _, n := range []int{1, 16, 31, 33} {
			_, err := b.open(t.Context(), loc, make([]byte, n))
			require.ErrorContains(t, err, "must be 32 bytes")
		}
	})
}

func TestSecretsAreEncryptedAtRest(t *testing.T) {
	const (
		token = "xoxb-111-222-secrettokenvalue"
		hook  = "https://hooks.slack.com/services/T0/B0/secretwebhookpath"
	)
	key := bytes.Repeat([]byte{42}, 32)
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		loc := b.newDB(t)
		s := b.openStore(t, loc, key)
		ch, err := s.CreateChannel(ctx, notify.Channel{OrgID: "o", Type: notify.Slack, Name: "enc",
			Config: notify.ChannelConfig{BotToken: token, ChannelID: "C0123456789", WebhookURL: hook}})
		require.NoError(t, err)
		assert.Equal(t, token, ch.Config.BotToken)
		assert.Equal(t, hook, ch.Config.WebhookURL)

		raw := b.rawDB(t, loc)
		var rawToken, rawHook, rawChannel string
		require.NoError(t, raw.QueryRowContext(ctx, b.q(
			`SELECT bot_token, webhook_url, channel_id FROM chatnotify_channels WHERE id = ?`), ch.ID).
			Scan(&rawToken, &rawHook, &rawChannel))
		assert.NotContains(t, rawToken, "secrettokenvalue")
		assert.NotContains(t, rawHook, "secretwebhookpath")
		assert.True(t, strings.HasPrefix(rawToken, "enc:v1:"), "stored token %q", rawToken)
		assert.True(t, strings.HasPrefix(rawHook, "enc:v1:"), "stored URL %q", rawHook)
		assert.Equal(t, "C0123456789", rawChannel, "the channel ID is not a secret and stays readable")

		got, err := s.GetChannel(ctx, "o", ch.ID)
		require.NoError(t, err)
		assert.Equal(t, ch, got)

		// Same plain text, fresh nonce: two channels never share a ciphertext.
		other, err := s.CreateChannel(ctx, notify.Channel{OrgID: "o", Type: notify.Slack, Name: "enc2",
			Config: notify.ChannelConfig{BotToken: token, ChannelID: "C0123456789"}})
		require.NoError(t, err)
		var otherToken string
		require.NoError(t, raw.QueryRowContext(ctx, b.q(
			`SELECT bot_token FROM chatnotify_channels WHERE id = ?`), other.ID).Scan(&otherToken))
		assert.NotEqual(t, rawToken, otherToken)

		// A ciphertext moved to another row does not decrypt there.
		_, err = raw.ExecContext(ctx, b.q(`UPDATE chatnotify_channels SET bot_token = ? WHERE id = ?`), rawToken, other.ID)
		require.NoError(t, err)
		_, err = s.GetChannel(ctx, "o", other.ID)
		require.ErrorContains(t, err, "cannot be decrypted")

		// Without the key, or with another, the secrets are unreadable and
		// the error does not show them.
		_, err = b.openStore(t, loc, nil).GetChannel(ctx, "o", ch.ID)
		require.ErrorContains(t, err, "no Options.SecretKey")
		_, err = b.openStore(t, loc, bytes.Repeat([]byte{1}, 32)).GetChannel(ctx, "o", ch.ID)
		require.ErrorContains(t, err, "cannot be decrypted")
		assert.NotContains(t, err.Error(), "enc:v1:")
	})
}

func TestPlainSecretsAreReadWithKeyAndEncryptedOnUpdate(t *testing.T) {
	const token = "xoxb-111-222-plaintokenvalue"
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		loc := b.newDB(t)
		ch, err := b.openStore(t, loc, nil).CreateChannel(ctx, notify.Channel{OrgID: "o", Type: notify.Slack, Name: "legacy",
			Config: notify.ChannelConfig{BotToken: token, ChannelID: "C0123456789"}})
		require.NoError(t, err)
		raw := b.rawDB(t, loc)
		var stored string
		require.NoError(t, raw.QueryRowContext(ctx, `SELECT bot_token FROM chatnotify_channels`).Scan(&stored))
		assert.Equal(t, token, stored, "without a key, secrets are stored as they are (documented)")

		keyed := b.openStore(t, loc, bytes.Repeat([]byte{9}, 32))
		got, err := keyed.GetChannel(ctx, "o", ch.ID)
		require.NoError(t, err)
		assert.Equal(t, token, got.Config.BotToken)
		_, err = keyed.UpdateChannel(ctx, got)
		require.NoError(t, err)
		require.NoError(t, raw.QueryRowContext(ctx, `SELECT bot_token FROM chatnotify_channels`).Scan(&stored))
		assert.True(t, strings.HasPrefix(stored, "enc:v1:"), "after an update with a key the token is stored as %q", stored)
	})
}

// Timestamps the store sets are UTC, truncated to microseconds, and read
// back unchanged.
func TestTimestampsAreUTCMicroseconds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := b.openStore(t, b.newDB(t), nil)
		ch, err := s.CreateChannel(t.Context(), notify.Channel{OrgID: "o", Type: notify.Teams, Name: "n"})
		require.NoError(t, err)
		assert.Equal(t, time.UTC, ch.CreatedAt.Location())
		assert.Zero(t, ch.CreatedAt.Nanosecond()%1000, "CreatedAt %v is finer than a microsecond", ch.CreatedAt)
		got, err := s.GetChannel(t.Context(), "o", ch.ID)
		require.NoError(t, err)
		assert.Equal(t, ch.CreatedAt, got.CreatedAt)
		assert.Equal(t, time.UTC, got.CreatedAt.Location())
	})
}

// Errors name the store package, not the shared one.
func TestErrorsArePrefixedWithTheStorePackage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := b.openStore(t, b.newDB(t), nil)
		_, err := s.DecideApproval(t.Context(), "o", "r", approval.Outcome{Status: "bogus"})
		require.Error(t, err)
		prefix := map[string]string{"SQLite": "sqlite: ", "PostgreSQL": "postgres: "}[b.name]
		assert.True(t, strings.HasPrefix(err.Error(), prefix), "error %q lacks the prefix %q", err, prefix)
	})
}

// The sweep's query is answered from the index on (status, expires_at),
// in index order: SQLite neither scans the table nor sorts the due rows
// (a "TEMP B-TREE" step) before applying the limit.
func TestListExpiredUsesTheIndexOnSQLite(t *testing.T) {
	s := backends[0].openStore(t, backends[0].newDB(t), nil)
	plan, err := s.ExplainListExpired(t.Context())
	require.NoError(t, err)
	text := strings.Join(plan, "\n")
	if len(plan) != 1 || !strings.Contains(text, "USING INDEX chatnotify_approvals_pending") || strings.Contains(text, "TEMP B-TREE") {
		t.Errorf("query plan:\n%s\nwant a single search of chatnotify_approvals_pending, without a sort", text)
	}
}
