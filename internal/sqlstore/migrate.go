package sqlstore

import (
	"context"
	"database/sql"
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
//
// Each row also holds the migration's compatible_from (see
// [compatibleFromHeader]): the record that lets a build which does not
// know a migration decide whether it may run beside it.
const migrationsTable = "chatnotify_schema_migrations"

// advisoryLockKey is the PostgreSQL advisory lock held while migrating,
// so that replicas starting together apply each migration once. It is an
// arbitrary constant ("chatnot" in ASCII).
const advisoryLockKey int64 = 0x63686174_6e6f74

// compatibleFromHeader starts the line every migration file declares its
// compatibility with, among the comments before its first statement:
//
//	-- chatnotify: compatible-from N
//
// (anything after N is commentary). N is the oldest schema version whose
// code still runs correctly against a database this migration has been
// applied to, 1 ≤ N ≤ the migration's own version. This is how rolling
// deploys work (expand/contract migrations): while replicas of releases
// N and N+1 share a database, the older one must keep working on the
// schema the newer one migrated.
//
//   - An expand step (a new table, a new nullable or defaulted column, a
//     new index) breaks no code that the migrations before it did not
//     already break: it repeats the previous migration's N.
//   - A contract step (a drop, a rename, a new key, NOT NULL without a
//     default) breaks the code that still uses what it changes: its N is
//     its own version, or, when the releases since N' no longer touch
//     what it removes (the usual second half of an expand/contract pair),
//     N'.
//
// N is stored in migrationsTable when the migration is applied, because
// the older code that needs it does not have the file.
const compatibleFromHeader = "-- chatnotify: compatible-from "

type migration struct {
	version int
	name    string
	sql     string
	// compatibleFrom is the oldest schema version whose code runs
	// against this migration (see compatibleFromHeader).
	compatibleFrom int
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
		m := migration{version: v, name: strings.TrimSuffix(e.Name(), ".sql"), sql: string(b)}
		if m.compatibleFrom, err = compatibleFrom(m); err != nil {
			return nil, fmt.Errorf("%s: migration %s: %w", name, m.name, err)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("%s: migrations must be numbered 1, 2, …: found %d at position %d", name, m.version, i+1)
		}
	}
	return out, nil
}

// compatibleFrom parses m's compatibleFromHeader line, which must appear
// once among the comment lines that open the file.
func compatibleFrom(m migration) (int, error) {
	n := 0
	for line := range strings.Lines(m.sql) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "--") {
			break // the first statement: the header is over
		}
		rest, ok := strings.CutPrefix(line, compatibleFromHeader)
		if !ok {
			continue
		}
		if n != 0 {
			return 0, errors.New("more than one compatible-from line")
		}
		fields := strings.Fields(rest)
		v, err := 0, error(nil)
		if len(fields) > 0 {
			v, err = strconv.Atoi(fields[0])
		}
		if len(fields) == 0 || err != nil || v < 1 || v > m.version {
			return 0, fmt.Errorf("bad %q line: want a version from 1 to %d", strings.TrimSpace(compatibleFromHeader), m.version)
		}
		n = v
	}
	if n == 0 {
		return 0, fmt.Errorf("no %q line in its opening comments (see sqlstore's migrate.go)", strings.TrimSpace(compatibleFromHeader)+" N")
	}
	return n, nil
}

// appliedMigration is a row of migrationsTable.
type appliedMigration struct {
	version        int
	name           string
	compatibleFrom sql.NullInt64 // NULL: recorded by a release before compatible_from
}

// migrate applies the migrations the database lacks, each recorded in
// migrationsTable with its compatible_from, in one transaction. On
// PostgreSQL the transaction first takes an advisory lock, so concurrent
// callers wait for each other and the later ones find nothing left to
// do. On SQLite the store package's connections begin transactions
// IMMEDIATE, which serialises them the same way.
//
// A database whose schema is newer than this build (version V above the
// K migrations it knows: a newer release is rolling out, or was rolled
// back) is opened if and only if every applied migration above K records
// a compatible_from of K or less, that is, each is an expand step for
// code of version K. None of the store's migrations is applied then (a
// newer release applied them all), and a warning is logged with slog's
// default logger. River's migrations still run: River applies only the
// versions it knows and the database lacks, so beside a newer release
// they find nothing to do. Otherwise, or when such a migration records no
// compatible_from, the database is refused with an error naming both
// versions and the first migration in the way.
//
// Rows recorded before compatible_from existed (NULL) are filled in from
// the files this build knows; a value already recorded is never changed.
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

	if err := s.createMigrationsTable(ctx, tx); err != nil {
		return err
	}
	applied, err := s.appliedMigrations(ctx, tx)
	if err != nil {
		return err
	}
	known := len(ms)
	for _, m := range ms {
		a, ok := applied[m.version]
		if !ok || a.compatibleFrom.Valid {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE `+migrationsTable+` SET compatible_from = ? WHERE version = ? AND compatible_from IS NULL`),
			m.compatibleFrom, m.version); err != nil {
			return s.dbError("recording the compatibility of migration "+m.name, err)
		}
	}

	newer := newestVersion(applied) > known
	if newer {
		if err := s.checkCompatible(applied, ms); err != nil {
			return err
		}
	}

	for _, m := range ms {
		if _, ok := applied[m.version]; ok || newer {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return s.dbError("applying migration "+m.name, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO `+migrationsTable+` (version, name, applied_at, compatible_from) VALUES (?, ?, ?, ?)`),
			m.version, m.name, s.t(s.timestamp()), m.compatibleFrom); err != nil {
			return s.dbError("recording migration "+m.name, err)
		}
	}
	if err := s.riverMigrate(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.dbError("committing migrations", err)
	}
	if err := s.riverMigrate(ctx, nil); err != nil {
		return err
	}
	if newer {
		s.log.WarnContext(ctx, s.d.Name+": the database schema is newer than this build, and compatible with it: running without migrating",
			"database_schema_version", newestVersion(applied), "build_schema_version", known)
	}
	return nil
}

// createMigrationsTable creates migrationsTable if missing, and adds
// compatible_from to one created by an earlier release.
func (s *Store) createMigrationsTable(ctx context.Context, tx *sql.Tx) error {
	created := "TEXT NOT NULL"
	if s.d.Kind == PostgreSQL {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryLockKey); err != nil {
			return s.dbError("locking for migrations", err)
		}
		created = "TIMESTAMPTZ NOT NULL"
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+migrationsTable+` (
		version         INTEGER PRIMARY KEY,
		name            TEXT NOT NULL,
		applied_at      `+created+`,
		compatible_from INTEGER
	)`); err != nil {
		return s.dbError("creating "+migrationsTable, err)
	}
	// Nullable, so that a release before it keeps inserting its rows.
	addColumn := `ALTER TABLE ` + migrationsTable + ` ADD COLUMN IF NOT EXISTS compatible_from INTEGER`
	if s.d.Kind == SQLite {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('`+migrationsTable+`') WHERE name = 'compatible_from'`).Scan(&n); err != nil {
			return s.dbError("reading "+migrationsTable, err)
		}
		addColumn = ""
		if n == 0 {
			addColumn = `ALTER TABLE ` + migrationsTable + ` ADD COLUMN compatible_from INTEGER`
		}
	}
	if addColumn != "" {
		if _, err := tx.ExecContext(ctx, addColumn); err != nil {
			return s.dbError("adding compatible_from to "+migrationsTable, err)
		}
	}
	return nil
}

// appliedMigrations reads migrationsTable, by version.
func (s *Store) appliedMigrations(ctx context.Context, tx *sql.Tx) (map[int]appliedMigration, error) {
	applied := map[int]appliedMigration{}
	rows, err := tx.QueryContext(ctx, `SELECT version, name, compatible_from FROM `+migrationsTable)
	if err != nil {
		return nil, s.dbError("reading applied migrations", err)
	}
	for rows.Next() {
		var a appliedMigration
		if err := rows.Scan(&a.version, &a.name, &a.compatibleFrom); err != nil {
			rows.Close()
			return nil, s.dbError("reading applied migrations", err)
		}
		applied[a.version] = a
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, s.dbError("reading applied migrations", err)
	}
	return applied, nil
}

// newestVersion returns the highest applied version, 0 for none.
func newestVersion(applied map[int]appliedMigration) int {
	newest := 0
	for v := range applied {
		newest = max(newest, v)
	}
	return newest
}

// checkCompatible reports whether code knowing ms may run against a
// database with the applied migrations, some newer than ms: every
// migration of ms must be applied (the newer release applied them before
// its own), and every newer one must be compatible with len(ms).
func (s *Store) checkCompatible(applied map[int]appliedMigration, ms []migration) error {
	known, newest := len(ms), newestVersion(applied)
	for _, m := range ms {
		if _, ok := applied[m.version]; !ok {
			return s.errorf("the database has schema version %d, newer than this build knows (%d), but lacks migration %s", newest, known, m.name)
		}
	}
	newer := make([]int, 0, len(applied))
	for v := range applied {
		if v > known {
			newer = append(newer, v)
		}
	}
	slices.Sort(newer)
	for _, v := range newer {
		a := applied[v]
		switch {
		case !a.compatibleFrom.Valid:
			return s.errorf("the database has schema version %d, newer than this build knows (%d), and migration %s does not record which versions it is compatible with: upgrade chatnotify",
				newest, known, a.name)
		case int(a.compatibleFrom.Int64) > known:
			return s.errorf("the database has schema version %d, newer than this build knows (%d), and migration %s is not compatible with version %d (it needs code of schema version %d or later): upgrade chatnotify",
				newest, known, a.name, known, a.compatibleFrom.Int64)
		}
	}
	return nil
}
