// Package sqlstore is the SQL shared by chatnotify's database stores,
// store/sqlite and store/postgres: every store interface written once,
// parameterised by a [Dialect] that each of those packages fills in with
// its driver's pieces (its migrations, how its driver reports a unique
// violation). This package imports no database driver, so a host links
// only the driver of the store package it imports.
//
// Queries are written with ? placeholders and rewritten to $1, $2, … for
// PostgreSQL. Times are TIMESTAMPTZ on PostgreSQL and fixed-width UTC text
// on SQLite (so that text order is time order), microsecond precision on
// both. Channel secrets may be encrypted at rest (see [Config.SecretKey]).
// Migrations, embedded by each store package, run in one transaction at
// [New], under an advisory lock on PostgreSQL.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river/riverdriver"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
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

// Kind is the SQL dialect a [Dialect] speaks.
type Kind int

// The dialects.
const (
	// SQLite is modernc.org/sqlite: ? placeholders, times as text.
	SQLite Kind = iota + 1
	// PostgreSQL is PostgreSQL 13 or later: $n placeholders, TIMESTAMPTZ,
	// and an advisory lock around migrations.
	PostgreSQL
)

// Dialect is what a store package tells this one about its database.
type Dialect struct {
	// Kind selects the SQL spoken.
	Kind Kind
	// Name prefixes every error message: the store package's name,
	// "sqlite" or "postgres".
	Name string
	// Migrations holds the schema migrations, files named
	// NNNN_description.sql at its root, numbered from 1 without gaps.
	// Applied migrations are never edited: a change is a new file.
	Migrations fs.FS
	// IsUniqueViolation reports whether err, a driver error possibly
	// wrapped (use errors.As), is a unique or primary key constraint
	// violation.
	IsUniqueViolation func(err error) bool
}

// Config is how a store package hands its databases to [New].
type Config struct {
	// Write runs every statement that writes; Read runs the reads. They
	// may be the same pool. Read must see every write committed through
	// Write (for SQLite, a WAL-mode file).
	Write, Read *sql.DB
	// Owned makes [Store.Close] close Write and Read.
	Owned bool
	// SecretKey, when set, must be 32 bytes: channels' bot tokens and
	// webhook URLs are then encrypted at rest with AES-256-GCM under it.
	SecretKey []byte
	// River, when set, is a River driver on Write: the store then owns
	// chatnotify's durable delivery queue (see [Store.DeliveryQueue]),
	// and River's migrations run after the store's, in RiverSchema on
	// PostgreSQL (created if missing; empty on SQLite). Queue tunes it.
	River       riverdriver.Driver[*sql.Tx]
	RiverSchema string
	Queue       riverqueue.Config
	// Logger receives the store's warnings (a newer, compatible schema)
	// and, unless Queue has its own, the durable queue's. Nil discards.
	Logger *slog.Logger
}

// Store implements chatnotify's store interfaces on a SQL database. It is
// safe for concurrent use, including by several processes sharing one
// database.
type Store struct {
	log    *slog.Logger
	d      Dialect
	wdb    *sql.DB
	rdb    *sql.DB
	owned  bool
	sealer *sealer
	now    func() time.Time
	queue  *riverqueue.Queue[*sql.Tx] // nil without Config.River

	river       riverdriver.Driver[*sql.Tx] // for migrate
	riverSchema string
}

// New returns a Store on cfg's databases, after applying the migrations
// of d that the database lacks. On error it closes nothing: the caller
// owns cfg's pools until New succeeds.
func New(ctx context.Context, d Dialect, cfg Config) (*Store, error) {
	switch {
	case d.Kind != SQLite && d.Kind != PostgreSQL:
		return nil, fmt.Errorf("sqlstore: unknown dialect kind %d", d.Kind)
	case d.Name == "" || d.Migrations == nil || d.IsUniqueViolation == nil:
		return nil, errors.New("sqlstore: incomplete dialect")
	}
	if cfg.Write == nil || cfg.Read == nil {
		return nil, fmt.Errorf("%s: New needs a database", d.Name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Queue.Logger == nil {
		cfg.Queue.Logger = cfg.Logger
	}
	s := &Store{d: d, wdb: cfg.Write, rdb: cfg.Read, owned: cfg.Owned, now: time.Now, river: cfg.River, riverSchema: cfg.RiverSchema, log: cfg.Logger}
	if cfg.SecretKey != nil {
		sl, err := newSealer(d.Name, cfg.SecretKey)
		if err != nil {
			return nil, err
		}
		s.sealer = sl
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	s.openQueue(cfg)
	return s, nil
}

// Close closes the database connections the store package opened. For a
// Store built on a database the host opened and keeps owning, it does
// nothing.
func (s *Store) Close() error {
	qerr := s.stopQueue() // never close the database under running workers
	if !s.owned {
		return qerr
	}
	err := errors.Join(qerr, s.wdb.Close())
	if s.rdb != s.wdb {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// q adapts a query written with ? placeholders to the dialect.
func (s *Store) q(query string) string {
	if s.d.Kind != PostgreSQL {
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
	if s.d.Kind == SQLite {
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
		return fmt.Errorf("cannot scan %T into a time", src)
	}
	return nil
}

func (d timeDest) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("bad stored time %q", v)
	}
	*d.p = t.UTC()
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// errorf returns an error prefixed with the store package's name.
func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf(s.d.Name+": "+format, args...)
}

// dbError wraps an unexpected database error with what was being done.
func (s *Store) dbError(op string, err error) error {
	return fmt.Errorf("%s: %s: %w", s.d.Name, op, err)
}
