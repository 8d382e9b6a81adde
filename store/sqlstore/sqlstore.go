package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
)

var (
	_ notify.ChannelStore    = (*Store)(nil)
	_ notify.PostStore       = (*Store)(nil)
	_ approval.ApprovalStore = (*Store)(nil)
	_ approval.AuditLogger   = (*Store)(nil)
	_ approval.AuditLister   = (*Store)(nil)
	_ approval.ExpiryLister  = (*Store)(nil)
)

// Dialect is the SQL dialect of a database handed to [New].
type Dialect string

// The supported dialects. SQLite means modernc.org/sqlite (driver name
// "sqlite"); PostgreSQL means any driver speaking to PostgreSQL 13 or
// later, such as github.com/jackc/pgx/v5/stdlib (driver name "pgx").
const (
	SQLite     Dialect = "sqlite"
	PostgreSQL Dialect = "postgres"
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

	// MaxOpenConns bounds the connections to a PostgreSQL server. Defaults
	// to 10. It does not apply to SQLite, which [Open] gives one writing
	// connection and a few reading ones, nor to a database given to [New],
	// whose pool the caller configures.
	MaxOpenConns int

	// Now returns the current time, used for the timestamps the store sets
	// itself. Defaults to time.Now.
	Now func() time.Time
}

// Store implements the chatnotify store interfaces on a SQL database. It is
// safe for concurrent use, including by several processes sharing one
// database.
type Store struct {
	dialect Dialect
	// wdb runs every statement that writes, rdb the reads. They are the
	// same pool except for SQLite files opened by Open, where wdb has a
	// single connection so that writers queue in Go instead of contending
	// for SQLite's file lock.
	wdb, rdb *sql.DB
	owned    bool // Close closes the pools
	sealer   *sealer
	now      func() time.Time
}

// Open connects to the database named by dsn, applies the schema
// migrations it lacks, and returns a Store on it. Supported DSNs:
//
//   - sqlite:PATH — a SQLite database file, created if missing (for
//     example sqlite:chatnotify.db or sqlite:/var/lib/app/notify.db). The
//     file is put in WAL mode with a busy timeout and foreign keys on.
//     sqlite::memory: gives a private in-memory database, lost on Close,
//     on a single connection.
//   - postgres://… or postgresql://… — a PostgreSQL server (13 or later),
//     through pgx. Any libpq URL parameter pgx understands may be given.
//
// Errors never contain the DSN's password. Call [Store.Close] when done.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	opts = withDefaults(opts)
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok {
		return nil, errors.New("sqlstore: DSN must start with sqlite: or postgres://")
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		return openSQLite(ctx, rest, opts)
	case "postgres", "postgresql":
		return openPostgres(ctx, dsn, opts)
	}
	if !plainScheme(scheme) {
		// Not a URL scheme: the text may be part of a credential.
		return nil, errors.New("sqlstore: unsupported DSN: use sqlite:PATH or postgres://…")
	}
	return nil, fmt.Errorf("sqlstore: unsupported DSN scheme %q: use sqlite:PATH or postgres://…", scheme)
}

// New returns a Store on db, a database the caller opened and keeps
// owning: [Store.Close] does not close it. It applies the schema
// migrations db lacks. For SQLite, open db with a busy timeout and
// _txlock=immediate (see the package documentation); for PostgreSQL, bound
// its pool with db.SetMaxOpenConns.
func New(ctx context.Context, db *sql.DB, dialect Dialect, opts *Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: New needs a database")
	}
	if dialect != SQLite && dialect != PostgreSQL {
		return nil, fmt.Errorf("sqlstore: unknown dialect %q", dialect)
	}
	s, err := newStore(dialect, db, db, false, withDefaults(opts))
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// plainScheme reports whether s looks like a URL scheme (RFC 3986) of at
// most 20 characters.
func plainScheme(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func withDefaults(opts *Options) *Options {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = 10
	}
	return &o
}

func newStore(d Dialect, wdb, rdb *sql.DB, owned bool, opts *Options) (*Store, error) {
	s := &Store{dialect: d, wdb: wdb, rdb: rdb, owned: owned, now: opts.Now}
	if opts.SecretKey != nil {
		sl, err := newSealer(opts.SecretKey)
		if err != nil {
			return nil, err
		}
		s.sealer = sl
	}
	return s, nil
}

// sqliteParams are the connection settings of every SQLite connection
// Open makes. busy_timeout covers other processes holding the lock;
// _txlock=immediate takes the write lock when a transaction begins, so a
// transaction never fails upgrading a read lock.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"

func openSQLite(ctx context.Context, path string, opts *Options) (*Store, error) {
	switch {
	case path == "":
		return nil, errors.New("sqlstore: sqlite: DSN needs a file path, as in sqlite:chatnotify.db")
	case strings.HasPrefix(path, "//"):
		return nil, errors.New("sqlstore: write sqlite:PATH, as in sqlite:/var/lib/app/notify.db, not sqlite://")
	case strings.ContainsAny(path, "?#"):
		return nil, errors.New("sqlstore: sqlite: file path must not contain '?' or '#'")
	}
	if path == ":memory:" {
		db, err := sql.Open("sqlite", ":memory:?"+sqliteParams)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: opening SQLite: %w", err)
		}
		// One connection, never closed while the pool lives: each
		// connection to :memory: is a database of its own.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		return finishOpen(ctx, SQLite, db, db, opts)
	}

	w, err := sql.Open("sqlite", path+"?"+sqliteParams+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: opening SQLite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	// Set up the file (WAL mode, schema) through the writer before any
	// reader connects.
	if err := pingSQLite(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlstore: opening SQLite file: %w", err)
	}
	r, err := sql.Open("sqlite", path+"?"+sqliteParams+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlstore: opening SQLite: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return finishOpen(ctx, SQLite, w, r, opts)
}

// pingSQLite opens the first connection of db, retrying while the file is
// locked. Switching a new file to WAL mode needs an exclusive lock and
// SQLite reports SQLITE_BUSY for it at once, without waiting for the
// busy_timeout, when another process or pool is opening the same file.
func pingSQLite(ctx context.Context, db *sql.DB) error {
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

func openPostgres(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	scrub := secretScrubber(dsn)
	if _, err := url.Parse(dsn); err != nil {
		// url.Error quotes the DSN; say only what is wrong.
		return nil, errors.New("sqlstore: malformed PostgreSQL DSN")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: invalid PostgreSQL DSN: %s", scrub(parseErrorText(err)))
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		// Not wrapped: the driver's error value may hold the DSN.
		return nil, fmt.Errorf("sqlstore: connecting to PostgreSQL: %s", scrub(err.Error()))
	}
	s, err := finishOpen(ctx, PostgreSQL, db, db, opts)
	if err != nil {
		return nil, errors.New(scrub(err.Error()))
	}
	return s, nil
}

func finishOpen(ctx context.Context, d Dialect, w, r *sql.DB, opts *Options) (*Store, error) {
	closeAll := func() {
		w.Close()
		if r != w {
			r.Close()
		}
	}
	s, err := newStore(d, w, r, true, opts)
	if err != nil {
		closeAll()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		closeAll()
		return nil, err
	}
	return s, nil
}

// parseErrorText returns the message of a pgx DSN parse error without the
// connection string it quotes.
func parseErrorText(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap().Error()
	}
	return "cannot parse the DSN"
}

// secretScrubber returns a function removing the DSN's password (from the
// user info or a password= parameter) from a text.
func secretScrubber(dsn string) func(string) string {
	var secrets []string
	if u, err := url.Parse(dsn); err == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			secrets = append(secrets, p, url.PathEscape(p), url.QueryEscape(p))
		}
		for k, vs := range u.Query() {
			if strings.Contains(strings.ToLower(k), "password") {
				for _, v := range vs {
					if v != "" {
						secrets = append(secrets, v, url.QueryEscape(v))
					}
				}
			}
		}
	}
	return func(s string) string {
		for _, sec := range secrets {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
		return s
	}
}

// Close closes the database connections [Open] made. For a Store from
// [New] it does nothing: the caller owns the database.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	err := s.wdb.Close()
	if s.rdb != s.wdb {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// q adapts a query written with ? placeholders to the dialect.
func (s *Store) q(query string) string {
	if s.dialect != PostgreSQL {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// timestamp returns the current time as the store records it.
func (s *Store) timestamp() time.Time { return norm(s.now()) }

// norm returns t in UTC, truncated to the microsecond precision both
// dialects keep.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// sqliteTime is how SQLite columns hold times: fixed width, so that text
// order is time order.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// t converts a time to a query argument; the zero time becomes NULL.
func (s *Store) t(v time.Time) any {
	if v.IsZero() {
		return nil
	}
	v = norm(v)
	if s.dialect == SQLite {
		return v.Format(sqliteTime)
	}
	return v
}

// timeDest scans a time column of either dialect into *p, in UTC; NULL
// gives the zero time.
type timeDest struct{ p *time.Time }

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.p = time.Time{}
	case time.Time:
		*d.p = v.UTC()
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

func (d timeDest) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("sqlstore: bad stored time %q", v)
	}
	*d.p = t.UTC()
	return nil
}

// isUniqueViolation reports whether err is a unique or primary key
// constraint violation.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// dbError wraps an unexpected database error with what was being done.
func dbError(op string, err error) error {
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}
