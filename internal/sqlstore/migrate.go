package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// migrationsTable records the applied schema versions. It is prefixed
// like every table of the stores, so that a host sharing its own database
// keeps its own schema_migrations table.
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

// migrations returns the migrations of fsys, by version.
func migrations(name string, fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%s: reading migrations: %w", name, err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("%s: bad migration file name %q", name, e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("%s: reading migrations: %w", name, err)
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(e.Name(), ".sql"), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("%s: migrations must be numbered 1, 2, …: found %d at position %d", name, m.version, i+1)
		}
	}
	return out, nil
}

// migrate applies the migrations the database lacks, each recorded in
// migrationsTable, in one transaction. On PostgreSQL the transaction
// first takes an advisory lock, so concurrent callers wait for each other
// and the later ones find nothing left to do. On SQLite the store
// package's connections begin transactions IMMEDIATE, which serialises
// them the same way.
//
// A database with a version this build does not know is refused. (That
// stops an older replica from starting during a rolling deploy; issue 9
// makes migrations expand-only and lifts it.)
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations(s.d.Name, s.d.Migrations)
	if err != nil {
		return err
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return s.dbError("starting migrations", err)
	}
	defer tx.Rollback()

	created := "TEXT NOT NULL"
	if s.d.Kind == PostgreSQL {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryLockKey); err != nil {
			return s.dbError("locking for migrations", err)
		}
		created = "TIMESTAMPTZ NOT NULL"
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+migrationsTable+` (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at `+created+`
	)`); err != nil {
		return s.dbError("creating "+migrationsTable, err)
	}

	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM `+migrationsTable)
	if err != nil {
		return s.dbError("reading applied migrations", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return s.dbError("reading applied migrations", err)
		}
		applied[v] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return s.dbError("reading applied migrations", err)
	}
	for v := range applied {
		if v > len(ms) {
			return s.errorf("the database has schema version %d, newer than this build knows (%d): upgrade chatnotify", v, len(ms))
		}
	}

	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return s.dbError("applying migration "+m.name, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO `+migrationsTable+` (version, name, applied_at) VALUES (?, ?, ?)`),
			m.version, m.name, s.t(s.timestamp())); err != nil {
			return s.dbError("recording migration "+m.name, err)
		}
	}
	if err := s.riverMigrate(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.dbError("committing migrations", err)
	}
	return s.riverMigrate(ctx, nil)
}
