package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
	"github.com/chatnotify/chatnotify/internal/sqlstore"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/teams"
)

// Store keeps channels, posts, approval requests and the audit trail in
// a SQLite database. It implements [notify.ChannelStore],
// [notify.PostStore], [approval.ApprovalStore], [approval.AuditLogger],
// [approval.AuditLister] and [approval.ExpiryLister], and has a Close
// method, which closes the connections [Open] made (and does nothing for
// a Store from [New]). It is safe for concurrent use, including by
// several processes sharing one file.
//
// Store is the store shared with store/postgres: the same type, and the
// same behaviour, on another database.
type Store = sqlstore.Store

var (
	_ notify.ChannelStore     = (*Store)(nil)
	_ notify.PostStore        = (*Store)(nil)
	_ approval.ApprovalStore  = (*Store)(nil)
	_ approval.AuditLogger    = (*Store)(nil)
	_ approval.AuditLister    = (*Store)(nil)
	_ approval.ExpiryLister   = (*Store)(nil)
	_ teams.ConversationStore = (*Store)(nil)
)

// Options configures a [Store]. A nil *Options and the zero value mean
// the defaults.
type Options struct {
	// SecretKey, when set, must be 32 bytes: channels' bot tokens and
	// webhook URLs are then encrypted at rest with AES-256-GCM under it,
	// transparently to callers. Values stored in plain text before a key
	// was set are still read, and are encrypted the next time the channel
	// is updated. Losing the key makes the stored secrets unreadable.
	// Defaults to nil: secrets are stored in plain text, and reading an
	// encrypted one fails.
	SecretKey []byte

	// Logger receives the store's warnings: a database migrated by a
	// newer, compatible release, and problems of the durable queue. It
	// never receives a secret. Defaults to discarding.
	Logger *slog.Logger

	// queue tunes the durable queue (tests).
	queue riverqueue.Config
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

func dialect() sqlstore.Dialect {
	m, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // cannot happen: the directory is embedded
	}
	return sqlstore.Dialect{Kind: sqlstore.SQLite, Name: "sqlite", Migrations: m, IsUniqueViolation: isUniqueViolation}
}

// isUniqueViolation reports whether err is a unique or primary key
// constraint violation.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) &&
		(se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// connParams are the connection settings of every connection Open makes.
// busy_timeout covers other processes holding the lock; _txlock=immediate
// takes the write lock when a transaction begins, so a transaction never
// fails upgrading a read lock.
const connParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"

// Open opens the SQLite database file at path, creating it if missing,
// applies the schema migrations it lacks, and returns a Store on it. The
// file is put in WAL mode with a busy timeout. The path ":memory:" gives a
// private in-memory database, lost on Close. Call [Store.Close] when done.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	switch {
	case path == "":
		return nil, errors.New("sqlite: Open needs a file path, such as chatnotify.db")
	case strings.HasPrefix(path, "sqlite:"):
		return nil, errors.New("sqlite: pass the file path without a sqlite: prefix")
	case strings.Contains(path, "://"):
		// Not quoted: a URL may hold a password.
		return nil, errors.New("sqlite: Open takes a file path, not a URL (for PostgreSQL, use store/postgres)")
	case strings.ContainsAny(path, "?#"):
		return nil, errors.New("sqlite: the file path must not contain '?' or '#'")
	}
	if path == ":memory:" {
		db, err := sql.Open("sqlite", ":memory:?"+connParams)
		if err != nil {
			return nil, fmt.Errorf("sqlite: opening the database: %w", err)
		}
		// One connection, never closed while the pool lives: each
		// connection to :memory: is a database of its own.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		return newStore(ctx, db, db, true, "", opts)
	}

	w, err := sql.Open("sqlite", path+"?"+connParams+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening the database: %w", err)
	}
	// One writing connection, so that writers queue in the process
	// instead of contending for the file lock.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	// Set up the file (WAL mode, schema) through the writer before any
	// reader connects.
	if err := ping(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: opening the database file: %w", err)
	}
	r, err := sql.Open("sqlite", path+"?"+connParams+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: opening the database: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return newStore(ctx, w, r, true, path, opts)
}

// New returns a Store on db, a database the caller opened with
// modernc.org/sqlite (driver name "sqlite") and keeps owning:
// [Store.Close] does not close it. It applies the schema migrations db
// lacks. Open db with a busy timeout and immediate transactions, for
// example
// "app.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate".
func New(ctx context.Context, db *sql.DB, opts *Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlite: New needs a database")
	}
	return newStore(ctx, db, db, false, "", opts)
}

// newStore builds the store with its durable delivery queue (River on
// riversqlite, its tables in the same file, worked through the one
// writing connection). path, when known, is the file whose lock guards
// the startup reset of the jobs a killed process left running.
func newStore(ctx context.Context, w, r *sql.DB, owned bool, path string, opts *Options) (*Store, error) {
	cfg := sqlstore.Config{Write: w, Read: r, Owned: owned, River: riversqlite.New(w)}
	if opts != nil {
		cfg.SecretKey = opts.SecretKey
		cfg.Logger = opts.Logger
		cfg.Queue = opts.queue
	}
	if path != "" && cfg.Queue.BeforeStart == nil {
		cfg.Queue.BeforeStart = func(ctx context.Context) error { return resetRunning(ctx, w, path) }
	}
	s, err := sqlstore.New(ctx, dialect(), cfg)
	if err != nil && owned {
		w.Close()
		if r != w {
			r.Close()
		}
	}
	return s, err
}

// ping opens the first connection of db, retrying while the file is
// locked. Switching a new file to WAL mode needs an exclusive lock and
// SQLite reports SQLITE_BUSY for it at once, without waiting for the
// busy_timeout, when another process or pool is opening the same file.
func ping(ctx context.Context, db *sql.DB) error {
	delay := 5 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		busy := errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
		if !busy || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}
