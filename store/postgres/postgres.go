package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
	"github.com/chatnotify/chatnotify/internal/sqlstore"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/teams"
)

// Store keeps channels, posts, approval requests and the audit trail in
// a PostgreSQL database. It implements [notify.ChannelStore],
// [notify.PostStore], [approval.ApprovalStore], [approval.AuditLogger],
// [approval.AuditLister] and [approval.ExpiryLister], and has a Close
// method, which closes the connections [Open] made (and does nothing for
// a Store from [New]). It is safe for concurrent use, including by
// replicas sharing one database.
//
// Store is the store shared with store/sqlite: the same type, and the
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

	// MaxOpenConns bounds the connections [Open] makes to the server.
	// Defaults to 10. It does not apply to a database given to [New],
	// whose pool the caller configures.
	MaxOpenConns int

	// queue tunes the durable queue (tests); queue.Schema overrides
	// RiverSchema.
	queue riverqueue.Config
}

// riverSchema is the PostgreSQL schema of chatnotify's River tables
// (river_job, river_leader, …): its own, so that a host's River, if it
// has one, is not shared (two River clients on one schema share a
// leader and their jobs).
const riverSchema = "chatnotify_river"

//go:embed migrations/*.sql
var migrationFiles embed.FS

func dialect() sqlstore.Dialect {
	m, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // cannot happen: the directory is embedded
	}
	return sqlstore.Dialect{Kind: sqlstore.PostgreSQL, Name: "postgres", Migrations: m, IsUniqueViolation: isUniqueViolation}
}

// isUniqueViolation reports whether err is a unique or primary key
// constraint violation (SQLSTATE 23505).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// Open connects to the PostgreSQL server (13 or later) of dsn, a
// postgres:// or postgresql:// URL, applies the schema migrations the
// database lacks, and returns a Store on it. Any URL parameter pgx
// understands may be given; ?search_path=chatnotify keeps the tables in a
// schema of their own. Errors never contain the DSN's password. Call
// [Store.Close] when done.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	scheme, _, _ := strings.Cut(dsn, "://")
	if s := strings.ToLower(scheme); s != "postgres" && s != "postgresql" {
		// Not quoted: the text may be part of a credential.
		return nil, errors.New("postgres: the DSN must be a postgres:// or postgresql:// URL")
	}
	scrub := secretScrubber(dsn)
	if _, err := url.Parse(dsn); err != nil {
		// url.Error quotes the DSN; say only what is wrong.
		return nil, errors.New("postgres: malformed DSN")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid DSN: %s", scrub(parseErrorText(err)))
	}
	db := stdlib.OpenDB(*cfg)
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 10
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		// Not wrapped: the driver's error value may hold the DSN.
		return nil, fmt.Errorf("postgres: connecting: %s", scrub(err.Error()))
	}
	s, err := newStore(ctx, db, true, opts)
	if err != nil {
		db.Close()
		return nil, errors.New(scrub(err.Error()))
	}
	return s, nil
}

// New returns a Store on db, a database the caller opened with pgx's
// database/sql driver (github.com/jackc/pgx/v5/stdlib: sql.Open("pgx", …)
// or stdlib.OpenDB) and keeps owning: [Store.Close] does not close it. It
// applies the schema migrations db lacks. Bound its pool with
// db.SetMaxOpenConns.
func New(ctx context.Context, db *sql.DB, opts *Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("postgres: New needs a database")
	}
	if _, ok := db.Driver().(*stdlib.Driver); !ok {
		return nil, fmt.Errorf("postgres: New needs a database opened with pgx's driver (github.com/jackc/pgx/v5/stdlib), not %T", db.Driver())
	}
	if opts == nil {
		opts = &Options{}
	}
	return newStore(ctx, db, false, opts)
}

func newStore(ctx context.Context, db *sql.DB, owned bool, opts *Options) (*Store, error) {
	// The durable delivery queue: River through database/sql, so that its
	// jobs are inserted in the store's own *sql.Tx. It polls for jobs
	// every 50 ms (riverdatabasesql has no LISTEN).
	schema := riverSchema
	if opts.queue.Schema != "" {
		schema = opts.queue.Schema
	}
	return sqlstore.New(ctx, dialect(), sqlstore.Config{Write: db, Read: db, Owned: owned, SecretKey: opts.SecretKey,
		Logger: opts.Logger, River: riverdatabasesql.New(db), RiverSchema: schema, Queue: opts.queue})
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
