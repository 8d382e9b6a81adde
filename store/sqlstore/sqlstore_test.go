package sqlstore_test

import (
	"bytes"
	"database/sql"
	"errors"
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
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/sqlstore"
	"github.com/chatnotify/chatnotify/store/storetest"
)

// backend makes fresh, empty databases of one dialect.
type backend struct {
	name string
	// newDSN returns the DSN of a new empty database, removed after t.
	newDSN func(t *testing.T) string
}

var (
	sqliteFile = backend{"SQLite", func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "chatnotify.db")
	}}
	postgres = backend{"PostgreSQL", func(t *testing.T) string { return pgtest.NewDatabase(t) }}
	backends = []backend{sqliteFile, postgres}
)

// open opens dsn with opts and closes it after t.
func open(t *testing.T, dsn string, opts *sqlstore.Options) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), dsn, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// raw opens dsn with database/sql directly, to look at what is stored.
func raw(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		db, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	} else {
		db, err = sql.Open("pgx", dsn)
	}
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// rebind turns ? placeholders into $n for PostgreSQL.
func rebind(dsn, q string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return q
	}
	for i := 1; strings.Contains(q, "?"); i++ {
		q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
	}
	return q
}

func runSuites(t *testing.T, newStore func(t *testing.T) *sqlstore.Store) {
	t.Run("ChannelStore", func(t *testing.T) {
		storetest.TestChannelStore(t, func(t *testing.T) notify.ChannelStore { return newStore(t) })
	})
	t.Run("PostStore", func(t *testing.T) {
		storetest.TestPostStore(t, func(t *testing.T) notify.PostStore { return newStore(t) })
	})
	t.Run("ApprovalStore", func(t *testing.T) {
		storetest.TestApprovalStore(t, func(t *testing.T) storetest.ApprovalStores { return newStore(t) })
	})
}

func TestSQLite(t *testing.T) {
	runSuites(t, func(t *testing.T) *sqlstore.Store { return open(t, sqliteFile.newDSN(t), nil) })
}

func TestSQLiteInMemory(t *testing.T) {
	runSuites(t, func(t *testing.T) *sqlstore.Store { return open(t, "sqlite::memory:", nil) })
}

func TestSQLiteEncrypted(t *testing.T) {
	opts := &sqlstore.Options{SecretKey: bytes.Repeat([]byte{7}, 32)}
	storetest.TestChannelStore(t, func(t *testing.T) notify.ChannelStore { return open(t, sqliteFile.newDSN(t), opts) })
}

func TestPostgreSQL(t *testing.T) {
	pgtest.ServerDSN(t)
	t.Parallel()
	// One database for the suites, a schema of its own for every store.
	db := postgres.newDSN(t)
	runSuites(t, func(t *testing.T) *sqlstore.Store { return open(t, pgtest.NewSchema(t, db), nil) })
}

func TestOpenRejectsBadDSNWithoutEchoingSecrets(t *testing.T) {
	const secret = "hunter2secret"
	for _, dsn := range []string{
		"",
		"chatnotify.db",
		"mysql://user:" + secret + "@db/app",
		"user:" + secret + "@db/app",
		"sqlite:",
		"sqlite://var/x.db",
		"sqlite:x.db?_pragma=foo",
		"postgres://user:" + secret + "@[::1/app",
		"postgres://user:" + secret + "@127.0.0.1:notaport/app",
		"postgres://user@127.0.0.1/app?sslmode=bogus&password=" + secret,
		// Nothing listens on port 1: the connection is refused.
		"postgres://user:" + secret + "@127.0.0.1:1/app?connect_timeout=5",
		"postgresql://127.0.0.1:1/app?connect_timeout=5&password=" + secret,
	} {
		t.Run(strings.ReplaceAll(dsn, "/", "|"), func(t *testing.T) {
			s, err := sqlstore.Open(t.Context(), dsn, nil)
			if s != nil {
				s.Close()
			}
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "sqlstore: "), "error %q lacks the package prefix", err)
			assert.NotContains(t, err.Error(), secret)
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				assert.NotContains(t, fmt.Sprintf("%+v", e), secret)
			}
		})
	}
}

func TestOpenRejectsBadSecretKey(t *testing.T) {
	for _, n := range []int{1, 16, 31, 33} {
		_, err := sqlstore.Open(t.Context(), sqliteFile.newDSN(t), &sqlstore.Options{SecretKey: make([]byte, n)})
		require.ErrorContains(t, err, "must be 32 bytes")
	}
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	dsn := sqliteFile.newDSN(t)
	s, err := sqlstore.Open(ctx, dsn, nil)
	require.NoError(t, err)
	ch, err := s.CreateChannel(ctx, notify.Channel{OrgID: "o", Type: notify.Slack, Name: "ops",
		Config: notify.ChannelConfig{BotToken: "xoxb-1", ChannelID: "C0123456789"}, Events: notify.EventTypes(), Enabled: true})
	require.NoError(t, err)
	r, err := s.CreateApproval(ctx, approval.Request{OrgID: "o", Title: "deploy", ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	r, err = s.DecideApproval(ctx, r.ID, approval.Outcome{Status: approval.StatusApproved, At: time.Now(), ReviewedBy: "amy"})
	require.NoError(t, err)
	require.NoError(t, s.LogAudit(ctx, approval.AuditEntry{OrgID: "o", Action: approval.AuditReviewed, ApprovalID: r.ID}))
	require.NoError(t, s.RecordPost(ctx, notify.Post{ApprovalID: r.ID, OrgID: "o", ChannelID: ch.ID, ChannelType: notify.Slack,
		Receipt: notify.Receipt{SlackChannel: "C0123456789", SlackTS: "1700000000.000100"}}))
	require.NoError(t, s.Close())

	s = open(t, dsn, nil)
	gotCh, err := s.GetChannel(ctx, "o", ch.ID)
	require.NoError(t, err)
	assert.Equal(t, ch, gotCh)
	gotR, err := s.GetApproval(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, r, gotR)
	audit, err := s.ListAudit(ctx, "o", approval.AuditFilter{})
	require.NoError(t, err)
	assert.Len(t, audit, 1)
	posts, err := s.ListPosts(ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, posts, 1)
	assert.Equal(t, "1700000000.000100", posts[0].Receipt.SlackTS)
}

func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if b.name == postgres.name {
				pgtest.ServerDSN(t)
				t.Parallel()
			}
			f(t, b)
		})
	}
}

func migrationRows(t *testing.T, dsn string) []int {
	t.Helper()
	rows, err := raw(t, dsn).QueryContext(t.Context(), `SELECT version FROM chatnotify_schema_migrations ORDER BY version`)
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
		dsn := b.newDSN(t)
		first := open(t, dsn, nil)
		_, err := first.CreateApproval(t.Context(), approval.Request{ID: "kept", OrgID: "o", Title: "t"})
		require.NoError(t, err)
		want := migrationRows(t, dsn)
		require.NotEmpty(t, want)
		for range 3 {
			open(t, dsn, nil)
		}
		assert.Equal(t, want, migrationRows(t, dsn))
		_, err = open(t, dsn, nil).GetApproval(t.Context(), "kept")
		assert.NoError(t, err)
	})
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dsn := b.newDSN(t)
		const n = 8
		stores := make([]*sqlstore.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				stores[i], errs[i] = sqlstore.Open(t.Context(), dsn, &sqlstore.Options{MaxOpenConns: 2})
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "Open %d", i)
			t.Cleanup(func() { stores[i].Close() })
		}
		assert.Equal(t, []int{1}, migrationRows(t, dsn))
		for i, s := range stores {
			_, err := s.CreateChannel(t.Context(), notify.Channel{OrgID: "o", Type: notify.Teams, Name: fmt.Sprint(i)})
			assert.NoError(t, err, "store %d", i)
		}
	})
}

func TestNewerSchemaIsRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dsn := b.newDSN(t)
		open(t, dsn, nil)
		_, err := raw(t, dsn).ExecContext(t.Context(), rebind(dsn,
			`INSERT INTO chatnotify_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			99, "0099_future", time.Now().UTC().Format(time.RFC3339Nano))
		require.NoError(t, err)
		_, err = sqlstore.Open(t.Context(), dsn, nil)
		require.ErrorContains(t, err, "newer than this build")
	})
}

// Two stores on one database stand for two processes: still exactly one
// decision wins.
func TestDecideAcrossStores(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dsn := b.newDSN(t)
		stores := []*sqlstore.Store{open(t, dsn, nil), open(t, dsn, nil)}
		_, err := stores[0].CreateApproval(t.Context(), approval.Request{ID: "r", OrgID: "o", Title: "t"})
		require.NoError(t, err)
		const n = 100
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = stores[i%2].DecideApproval(t.Context(), "r",
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

func TestNewUsesCallersDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.db")
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
	require.NoError(t, err)
	defer db.Close()

	_, err = sqlstore.New(t.Context(), nil, sqlstore.SQLite, nil)
	require.Error(t, err)
	_, err = sqlstore.New(t.Context(), db, "oracle", nil)
	require.Error(t, err)

	s, err := sqlstore.New(t.Context(), db, sqlstore.SQLite, nil)
	require.NoError(t, err)
	_, err = s.CreateChannel(t.Context(), notify.Channel{OrgID: "o", Type: notify.Teams, Name: "n"})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, db.PingContext(t.Context()), "Close closed the caller's database")

	// The schema is there for a Store opened on the same file later.
	list, err := open(t, "sqlite:"+path, nil).ListChannels(t.Context(), "o")
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func TestSecretsAreEncryptedAtRest(t *testing.T) {
	const (
		token = "xoxb-111-222-secrettokenvalue"
		hook  = "https://hooks.slack.com/services/T0/B0/secretwebhookpath"
	)
	key := bytes.Repeat([]byte{42}, 32)
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		dsn := b.newDSN(t)
		s := open(t, dsn, &sqlstore.Options{SecretKey: key})
		ch, err := s.CreateChannel(ctx, notify.Channel{OrgID: "o", Type: notify.Slack, Name: "enc",
			Config: notify.ChannelConfig{BotToken: token, ChannelID: "C0123456789", WebhookURL: hook}})
		require.NoError(t, err)
		assert.Equal(t, token, ch.Config.BotToken)
		assert.Equal(t, hook, ch.Config.WebhookURL)

		rawDB := raw(t, dsn)
		var rawToken, rawHook, rawChannel string
		require.NoError(t, rawDB.QueryRowContext(ctx, rebind(dsn,
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
		require.NoError(t, rawDB.QueryRowContext(ctx, rebind(dsn,
			`SELECT bot_token FROM chatnotify_channels WHERE id = ?`), other.ID).Scan(&otherToken))
		assert.NotEqual(t, rawToken, otherToken)

		// A ciphertext moved to another row does not decrypt there.
		_, err = rawDB.ExecContext(ctx, rebind(dsn, `UPDATE chatnotify_channels SET bot_token = ? WHERE id = ?`), rawToken, other.ID)
		require.NoError(t, err)
		_, err = s.GetChannel(ctx, "o", other.ID)
		require.ErrorContains(t, err, "cannot be decrypted")

		// Without the key, or with another, the secrets are unreadable and
		// the error does not show them.
		_, err = open(t, dsn, nil).GetChannel(ctx, "o", ch.ID)
		require.ErrorContains(t, err, "no Options.SecretKey")
		_, err = open(t, dsn, &sqlstore.Options{SecretKey: bytes.Repeat([]byte{1}, 32)}).GetChannel(ctx, "o", ch.ID)
		require.ErrorContains(t, err, "cannot be decrypted")
		assert.NotContains(t, err.Error(), "enc:v1:")
	})
}

func TestPlainSecretsAreReadWithKeyAndEncryptedOnUpdate(t *testing.T) {
	const token = "xoxb-111-222-plaintokenvalue"
	ctx := t.Context()
	dsn := sqliteFile.newDSN(t)
	plain := open(t, dsn, nil)
	ch, err := plain.CreateChannel(ctx, notify.Channel{OrgID: "o", Type: notify.Slack, Name: "legacy",
		Config: notify.ChannelConfig{BotToken: token, ChannelID: "C0123456789"}})
	require.NoError(t, err)
	var stored string
	require.NoError(t, raw(t, dsn).QueryRowContext(ctx, `SELECT bot_token FROM chatnotify_channels`).Scan(&stored))
	assert.Equal(t, token, stored, "without a key, secrets are stored as they are (documented)")

	keyed := open(t, dsn, &sqlstore.Options{SecretKey: bytes.Repeat([]byte{9}, 32)})
	got, err := keyed.GetChannel(ctx, "o", ch.ID)
	require.NoError(t, err)
	assert.Equal(t, token, got.Config.BotToken)
	_, err = keyed.UpdateChannel(ctx, got)
	require.NoError(t, err)
	require.NoError(t, raw(t, dsn).QueryRowContext(ctx, `SELECT bot_token FROM chatnotify_channels`).Scan(&stored))
	assert.True(t, strings.HasPrefix(stored, "enc:v1:"), "after an update with a key the token is stored as %q", stored)
}

// Timestamps are UTC, truncated to microseconds, whatever the clock's zone
// and precision.
func TestTimestampsAreUTCMicroseconds(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", -7*3600))
	forEachBackend(t, func(t *testing.T, b backend) {
		s := open(t, b.newDSN(t), &sqlstore.Options{Now: func() time.Time { return now }})
		ch, err := s.CreateChannel(t.Context(), notify.Channel{OrgID: "o", Type: notify.Teams, Name: "n"})
		require.NoError(t, err)
		want := now.UTC().Truncate(time.Microsecond)
		assert.Equal(t, want, ch.CreatedAt)
		assert.Equal(t, time.UTC, ch.CreatedAt.Location())
		got, err := s.GetChannel(t.Context(), "o", ch.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got.CreatedAt)
		assert.Equal(t, time.UTC, got.CreatedAt.Location())
	})
}
