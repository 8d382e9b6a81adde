package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

//go:embed migrations
var migrationFS embed.FS

// migrationsTable records the applied schema versions. It is prefixed
// like every table of this package, so that a host sharing its own
// database (through New) keeps its own schema_migrations table.
const migrationsTable = "chatnotify_schema_migrations"

// advisoryLockKey is the PostgreSQL advisory lock held while migrating,
// so that replicas starting together apply each migration once. It is an
// arbitrary constant ("chatnot" in ASCII).
const advisoryLockKey int64 = 0x63686174_6e6f74

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations of d, by version. Files are
// named NNNN_description.sql.
func migrations(d Dialect) ([]migration, error) {
	dir := path.Join("migrations", string(d))
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: reading migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("sqlstore: bad migration file name %q", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: reading migrations: %w", err)
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(e.Name(), ".sql"), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlstore: migrations must be numbered 1, 2, …: found %d at position %d", m.version, i+1)
		}
	}
	return out, nil
}

// migrate applies the migrations the database lacks, each recorded in
// migrationsTable, in one transaction. On PostgreSQL the transaction
// first takes an advisory lock, so concurrent callers wait for each other
// and the later ones find nothing left to do. On SQLite the transaction
// begins IMMEDIATE (through the DSN of Open), which serialises them the
// same way.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations(s.dialect)
	if err != nil {
		return err
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return dbError("starting migrations", err)
	}
	defer tx.Rollback()

	if s.dialect == PostgreSQL {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryLockKey); err != nil {
			return dbError("locking for migrations", err)
		}
	}
	created := "TEXT NOT NULL"
	if s.dialect == PostgreSQL {
		created = "TIMESTAMPTZ NOT NULL"
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+migrationsTable+` (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at `+created+`
	)`); err != nil {
		return dbError("creating "+migrationsTable, err)
	}

	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM `+migrationsTable)
	if err != nil {
		return dbError("reading applied migrations", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return dbError("reading applied migrations", err)
		}
		applied[v] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return dbError("reading applied migrations", err)
	}
	for v := range applied {
		if v > len(ms) {
			return fmt.Errorf("sqlstore: the database has schema version %d, newer than this build knows (%d): upgrade chatnotify", v, len(ms))
		}
	}

	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return dbError("applying migration "+m.name, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO `+migrationsTable+` (version, name, applied_at) VALUES (?, ?, ?)`),
			m.version, m.name, s.t(s.timestamp())); err != nil {
			return dbError("recording migration "+m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return dbError("committing migrations", err)
	}
	return nil
}
