package sqlstore_test

import (
	"context"
	"database/sql"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/sqlstore"
	"github.com/chatnotify/chatnotify/notify"
)

// Rolling deploys (expand/contract migrations): code that knows schema
// versions 1..K opens a database at a newer version V exactly when every
// migration above K is compatible with K. "Newer code" and "older code"
// are simulated by opening the database through sqlstore.New with a
// test-only set of migrations: a prefix of the real ones, or the real
// ones and a synthetic migration 7.

// futureExpand is a synthetic migration 7 that code of version 6 keeps
// working beside: a new table.
const futureExpand = `-- chatnotify: compatible-from 2 (expand: a new table)
CREATE TABLE chatnotify_future (id TEXT PRIMARY KEY);
`

// futureContract is a synthetic migration 7 that breaks code of version
// 6: a column it reads is renamed.
const futureContract = `-- chatnotify: compatible-from 7 (contract: a column renamed)
ALTER TABLE chatnotify_channels RENAME COLUMN name TO display_name;
`

// migrationFS returns the backend's first n real migrations and extra
// (file name to SQL).
func migrationFS(t *testing.T, b backend, n int, extra map[string]string) fs.FS {
	t.Helper()
	real := os.DirFS(migrationDir[b.name])
	names, err := fs.Glob(real, "*.sql")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(names), n)
	out := fstest.MapFS{}
	for _, name := range names[:n] {
		data, err := fs.ReadFile(real, name)
		require.NoError(t, err)
		out[name] = &fstest.MapFile{Data: data}
	}
	for name, sql := range extra {
		out[name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return out
}

// openWith opens a Store on the database at loc with the migrations of
// fsys, without a durable queue. name names the dialect, which prefixes
// its errors and its log lines.
func openWith(ctx context.Context, b backend, loc, name string, fsys fs.FS) (*sqlstore.Store, error) {
	d := sqlstore.Dialect{Kind: sqlstore.SQLite, Name: name, Migrations: fsys, IsUniqueViolation: func(err error) bool {
		return err != nil && (strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "23505"))
	}}
	driver, dsn := "sqlite", loc+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	if b.numbered {
		d.Kind, driver, dsn = sqlstore.PostgreSQL, "pgx", loc
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	cfg := sqlstore.Config{Write: db, Read: db, Owned: true}
	if testLog != nil {
		cfg.Logger = slog.New(testLog)
	}
	s, err := sqlstore.New(ctx, d, cfg)
	if err != nil {
		db.Close()
	}
	return s, err
}

// mustOpenWith is openWith, which must succeed; the store is closed after t.
func mustOpenWith(t *testing.T, b backend, loc, name string, fsys fs.FS) *sqlstore.Store {
	t.Helper()
	s, err := openWith(t.Context(), b, loc, name, fsys)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// warnings collects the records logged by the stores openWith opens
// while a test runs (their Config.Logger).
type warnings struct {
	mu      sync.Mutex
	records []map[string]any
}

// testLog is the handler of the stores openWith opens; nil discards.
var testLog slog.Handler

func captureWarnings(t *testing.T) *warnings {
	w := &warnings{}
	testLog = w
	t.Cleanup(func() { testLog = nil })
	return w
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"level": r.Level, "msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Resolve().Any()
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.records = append(w.records, m)
	return nil
}

// newerSchema returns the warnings logged by the store named name about
// a newer schema, as (database version, build version) pairs.
func (w *warnings) newerSchema(name string) [][2]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out [][2]int64
	for _, r := range w.records {
		msg, _ := r["msg"].(string)
		if r["level"] == slog.LevelWarn && strings.HasPrefix(msg, name+": the database schema is newer than this build") {
			out = append(out, [2]int64{r["database_schema_version"].(int64), r["build_schema_version"].(int64)})
		}
	}
	return out
}

// works checks that s reads and writes channels and approvals.
func works(t *testing.T, s *sqlstore.Store, org string) {
	t.Helper()
	ctx := t.Context()
	ch, err := s.CreateChannel(ctx, notify.Channel{OrgID: org, Type: notify.Teams, Name: "ops"})
	require.NoError(t, err)
	got, err := s.GetChannel(ctx, org, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, "ops", got.Name)
	_, err = s.CreateApproval(ctx, approval.Request{ID: "r-" + org, OrgID: org, Title: "Deploy"})
	require.NoError(t, err)
	r, err := s.GetApproval(ctx, org, "r-"+org)
	require.NoError(t, err)
	assert.Equal(t, "Deploy", r.Title)
}

// compatibleFromRows returns the compatible_from column, by version.
func compatibleFromRows(t *testing.T, db *sql.DB) map[int]sql.NullInt64 {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version, compatible_from FROM chatnotify_schema_migrations`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int]sql.NullInt64{}
	for rows.Next() {
		var v int
		var c sql.NullInt64
		require.NoError(t, rows.Scan(&v, &c))
		out[v] = c
	}
	require.NoError(t, rows.Err())
	return out
}

// The real migrations record their compatibility: 0002 (approvals
// rekeyed by organisation) is a contract step for version 1, 0003 to
// 0006 are expand steps.
func TestMigrationsRecordCompatibleFrom(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		b.openStore(t, loc, nil)
		assert.Equal(t, map[int]sql.NullInt64{1: {Int64: 1, Valid: true}, 2: {Int64: 2, Valid: true}, 3: {Int64: 2, Valid: true}, 4: {Int64: 2, Valid: true}, 5: {Int64: 2, Valid: true}, 6: {Int64: 2, Valid: true}},
			compatibleFromRows(t, b.rawDB(t, loc)))
	})
}

// A database migrated by a release before compatible_from existed gets
// the column, and its rows are filled in.
func TestCompatibleFromIsAddedToAnOldMigrationsTable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		raw := b.rawDB(t, loc)
		createVersion1(t, b, raw) // the table as releases before it made it
		b.openStore(t, loc, nil)
		got := compatibleFromRows(t, raw)
		assert.Equal(t, sql.NullInt64{Int64: 1, Valid: true}, got[1])
		assert.Equal(t, sql.NullInt64{Int64: 2, Valid: true}, got[4])
	})
}

// Version N+1 adds an expand migration; a replica of version N (the real
// set) restarting beside it opens the database, migrates nothing, works,
// and warns.
func TestOlderCodeOpensSchemaWithNewerExpandMigration(t *testing.T) {
	w := captureWarnings(t)
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		mustOpenWith(t, b, loc, "next-"+b.name, migrationFS(t, b, 6, map[string]string{"0007_future.sql": futureExpand}))
		raw := b.rawDB(t, loc)
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7}, migrationRows(t, raw))

		// The release that knows 0001–0006 (the real set; opened here
		// without its durable queue, whose River migrations are not what
		// is tested).
		name := map[bool]string{false: "sqlite", true: "postgres"}[b.numbered]
		s := mustOpenWith(t, b, loc, name, migrationFS(t, b, 6, nil))
		works(t, s, "acme")
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7}, migrationRows(t, raw))
		assert.Equal(t, [][2]int64{{7, 6}}, w.newerSchema(name))

		// And the newer code still works on it.
		works(t, mustOpenWith(t, b, loc, "next-"+b.name, migrationFS(t, b, 6, map[string]string{"0007_future.sql": futureExpand})), "globex")
	})
}

// Version N+1 adds a contract migration: a replica of version N is
// refused, with both versions named.
func TestOlderCodeRefusesSchemaWithNewerContractMigration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		mustOpenWith(t, b, loc, "next-"+b.name, migrationFS(t, b, 6, map[string]string{"0007_rename.sql": futureContract}))
		_, err := b.open(t.Context(), loc, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "schema version 7, newer than this build knows (6)")
		assert.Contains(t, err.Error(), "migration 0007_rename is not compatible with version 6")
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7}, migrationRows(t, b.rawDB(t, loc)))
	})
}

// Code that knows 0001–0002 opens a database the real set migrated
// (0003 to 0006 are expand steps); code that knows only 0001 is refused
// (0002 rekeys approvals by organisation).
func TestOldCodeOnTheRealSchema(t *testing.T) {
	w := captureWarnings(t)
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newDB(t)
		b.openStore(t, loc, nil)
		raw := b.rawDB(t, loc)

		v2 := mustOpenWith(t, b, loc, "v2-"+b.name, migrationFS(t, b, 2, nil))
		works(t, v2, "acme")
		assert.Equal(t, [][2]int64{{6, 2}}, w.newerSchema("v2-"+b.name))
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, migrationRows(t, raw))

		_, err := openWith(t.Context(), b, loc, "v1-"+b.name, migrationFS(t, b, 1, nil))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "schema version 6, newer than this build knows (1)")
		assert.Contains(t, err.Error(), "migration 0002_org_scoped is not compatible with version 1 (it needs code of schema version 2 or later)")
		assert.Empty(t, w.newerSchema("v1-"+b.name))
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, migrationRows(t, raw))
	})
}

// A migration file must declare its compatibility.
func TestMigrationWithoutCompatibleFromIsRejected(t *testing.T) {
	b := backends[0]
	for name, sql := range map[string]string{
		"missing":       "-- a new table\nCREATE TABLE chatnotify_x (id TEXT);\n",
		"after the SQL": "CREATE TABLE chatnotify_x (id TEXT);\n-- chatnotify: compatible-from 4\n",
		"too new":       "-- chatnotify: compatible-from 6\nCREATE TABLE chatnotify_x (id TEXT);\n",
		"zero":          "-- chatnotify: compatible-from 0\nCREATE TABLE chatnotify_x (id TEXT);\n",
		"twice":         "-- chatnotify: compatible-from 4\n-- chatnotify: compatible-from 4\nCREATE TABLE chatnotify_x (id TEXT);\n",
	} {
		t.Run(name, func(t *testing.T) {
			loc := b.newDB(t)
			_, err := openWith(t.Context(), b, loc, "bad", migrationFS(t, b, 4, map[string]string{"0005_x.sql": sql}))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "migration 0005_x")
		})
	}
}
