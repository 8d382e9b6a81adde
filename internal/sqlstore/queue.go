package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/jobq"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
)

// The store owns chatnotify's durable delivery queue when its package
// gives it a River driver ([Config.River]). The hand-off is then atomic:
//
//	CreateApproval: INSERT request + the fan_out job, one transaction
//	DecideApproval: UPDATE request + the decided job, one transaction
//	                (a decision and an expiry alike)
//
// The audit entry of a decision and the answer to a Slack click's
// response_url are not in DecideApproval's transaction: approval.Service
// writes the entry after it, and the Slack handler's FollowUp queues the
// answer (PushOwnTx) after it, each in a transaction of its own (see
// notify/durable.go for what a crash between them costs).
//
// once a Dispatcher has started the queue ([Store.DeliveryQueue]); before
// that, nothing would work the jobs, and the store inserts none. The
// Dispatcher's own Enqueue and FollowUp insert the same jobs again, as
// unique jobs (by kind and arguments), so they are no-ops then.
//
// Why the store owns the queue rather than taking a hook: the job must be
// inserted with the store's own *sql.Tx, on the store's connection (one
// writer on SQLite), and the worker completes a job in the same
// transaction as the copy it records; all of that is the store's
// database. approval.Service stays unaware of queues.

var _ jobq.Provider = (*Store)(nil)

// sqlQueue adapts the generic River queue to [jobq.Queue] on *sql.Tx.
type sqlQueue struct{ *riverqueue.Queue[*sql.Tx] }

func (q sqlQueue) Push(ctx context.Context, tx *sql.Tx, jobs ...jobq.Job) error {
	if tx == nil {
		return q.PushOwnTx(ctx, jobs...)
	}
	return q.PushTx(ctx, tx, jobs...)
}

// DeliveryQueue returns the store's durable queue, or nil when its
// package gave it none. notify.NewDispatcher finds it on its ChannelStore
// and starts it when DispatcherOptions.Durable is set (opt-in).
func (s *Store) DeliveryQueue() jobq.Queue {
	if s.queue == nil {
		return nil
	}
	return sqlQueue{s.queue}
}

// openQueue builds the queue; River's migrations ran in migrate
// (riverMigrate).
func (s *Store) openQueue(cfg Config) {
	if cfg.River == nil {
		return
	}
	qc := cfg.Queue
	qc.Schema = cfg.RiverSchema
	s.queue = riverqueue.New(cfg.River, riverStore{s}, qc)
}

// riverMigrate applies River's migrations after the store's own. On
// SQLite they run in tx, the store's migration transaction. On
// PostgreSQL they cannot (River's migration 6 uses an enum value added in
// the same run, which PostgreSQL refuses in one transaction), so they run
// after it commits (tx nil), in River's own transactions, under a
// session advisory lock that serialises replicas starting together.
func (s *Store) riverMigrate(ctx context.Context, tx *sql.Tx) error {
	if s.river == nil || (s.d.Kind == PostgreSQL) != (tx == nil) {
		return nil
	}
	if s.d.Kind == SQLite {
		if err := riverqueue.MigrateTx(ctx, s.river, tx, ""); err != nil {
			return s.errorf("%w", err)
		}
		return nil
	}
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return s.dbError("locking for River's migrations", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, riverLockKey); err != nil {
		return s.dbError("locking for River's migrations", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, riverLockKey)
	if s.riverSchema != "" {
		if _, err := conn.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(s.riverSchema)); err != nil {
			return s.dbError("creating River's schema", err)
		}
	}
	if err := riverqueue.Migrate(ctx, s.river, s.riverSchema); err != nil {
		return s.errorf("%w", err)
	}
	return nil
}

// riverLockKey is the advisory lock held while River's migrations run.
const riverLockKey = advisoryLockKey + 1

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// handOff runs the write fn and, when the durable queue is working,
// inserts the jobs fn returns in the same transaction. fn's error is
// returned as is.
func (s *Store) handOff(ctx context.Context, fn func(q querier) ([]jobq.Job, error)) error {
	if s.queue == nil || !s.queue.Started() {
		_, err := fn(s.wdb)
		return err
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return s.dbError("starting a transaction", err)
	}
	jobs, err := fn(tx)
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := s.queue.PushTx(ctx, tx, jobs...); err != nil {
		_ = tx.Rollback()
		return s.errorf("handing the notifications over: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return s.dbError("committing", err)
	}
	return nil
}

// riverStore is the store as the queue sees it.
type riverStore struct{ s *Store }

func (r riverStore) Begin(ctx context.Context) (*sql.Tx, error) {
	tx, err := r.s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, r.s.dbError("starting a transaction", err)
	}
	return tx, nil
}

func (riverStore) Commit(tx *sql.Tx) error   { return tx.Commit() }
func (riverStore) Rollback(tx *sql.Tx) error { return tx.Rollback() }

func (r riverStore) RecordCopyTx(ctx context.Context, tx *sql.Tx, c jobq.Copy) (bool, error) {
	s := r.s
	lock := ""
	if s.d.Kind == PostgreSQL {
		// A decision committing meanwhile waits for this transaction, and
		// then lists this copy; or it committed first, and this read sees it.
		lock = " FOR UPDATE"
	}
	var status string
	err := tx.QueryRowContext(ctx, s.q(`SELECT status FROM chatnotify_approvals WHERE org_id = ? AND id = ?`+lock),
		c.OrgID, c.ApprovalID).Scan(&status)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, s.dbError("reading an approval request", err)
	}
	if c.PostedAt.IsZero() {
		c.PostedAt = s.now()
	}
	receipt := string(c.Receipt)
	if receipt == "" {
		receipt = "{}"
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO chatnotify_posts
		(approval_id, org_id, channel_id, channel_type, receipt, posted_at) VALUES (?, ?, ?, ?, ?, ?)`),
		c.ApprovalID, c.OrgID, c.ChannelID, c.ChannelType, receipt, s.t(c.PostedAt)); err != nil {
		return false, s.dbError("recording a post", err)
	}
	return status != "" && status != string(approval.StatusPending), nil
}

// reserveQuery and holdQuery keep chatnotify_channel_rate (migration
// 0004): per destination, the earliest time (ns since the epoch) its next
// message may go. PostgreSQL uses its own clock, shared by every replica.
const (
	pgNow          = `(extract(epoch from clock_timestamp()) * 1000000000)::bigint`
	pgReserveQuery = `INSERT INTO chatnotify_channel_rate (dest, next_allowed_at) VALUES ($1, ` + pgNow + ` + $2::bigint)
		ON CONFLICT (dest) DO UPDATE SET next_allowed_at = GREATEST(chatnotify_channel_rate.next_allowed_at, ` + pgNow + `) + $2::bigint
		RETURNING next_allowed_at - $2::bigint`
	sqliteReserveQuery = `INSERT INTO chatnotify_channel_rate (dest, next_allowed_at) VALUES (?1, ?2 + ?3)
		ON CONFLICT (dest) DO UPDATE SET next_allowed_at = max(chatnotify_channel_rate.next_allowed_at, ?2) + ?3
		RETURNING next_allowed_at - ?3`
	pgHoldQuery = `INSERT INTO chatnotify_channel_rate (dest, next_allowed_at) VALUES ($1, $2::bigint)
		ON CONFLICT (dest) DO UPDATE SET next_allowed_at = GREATEST(chatnotify_channel_rate.next_allowed_at, $2::bigint)`
	sqliteHoldQuery = `INSERT INTO chatnotify_channel_rate (dest, next_allowed_at) VALUES (?1, ?2)
		ON CONFLICT (dest) DO UPDATE SET next_allowed_at = max(chatnotify_channel_rate.next_allowed_at, ?2)`
)

func (r riverStore) ReserveSlot(ctx context.Context, key string, interval time.Duration) (time.Time, error) {
	s := r.s
	var slot int64
	var err error
	if s.d.Kind == PostgreSQL {
		err = s.wdb.QueryRowContext(ctx, pgReserveQuery, key, interval.Nanoseconds()).Scan(&slot)
	} else {
		err = s.wdb.QueryRowContext(ctx, sqliteReserveQuery, key, time.Now().UnixNano(), interval.Nanoseconds()).Scan(&slot)
	}
	if err != nil {
		return time.Time{}, s.dbError("reserving a send slot", err)
	}
	return time.Unix(0, slot), nil
}

func (r riverStore) Hold(ctx context.Context, key string, until time.Time) error {
	s := r.s
	q := sqliteHoldQuery
	if s.d.Kind == PostgreSQL {
		q = pgHoldQuery
	}
	if _, err := s.wdb.ExecContext(ctx, q, key, until.UnixNano()); err != nil {
		return s.dbError("holding a destination", err)
	}
	return nil
}

func (r riverStore) LogTx(ctx context.Context, tx *sql.Tx, logs ...jobq.Log) error {
	return r.s.logTx(ctx, tx, logs...)
}

func (r riverStore) RequeueTx(ctx context.Context, tx *sql.Tx, orgID, id string, at time.Time) (bool, error) {
	return r.s.requeueTx(ctx, tx, orgID, id, at)
}

// SealSecret keeps a job's credential encrypted at rest with the store's
// SecretKey; without a key it is stored as is, like the channels' own
// bot tokens and webhook URLs are then.
func (r riverStore) SealSecret(plain, ad string) string {
	s := r.s
	if plain == "" || s.sealer == nil {
		return plain
	}
	a := s.sealer.aead
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	randRead(nonce)
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(a.Seal(nonce, nonce, []byte(plain), []byte(ad)))
}

func (r riverStore) OpenSecret(stored, ad string) (string, error) {
	s := r.s
	enc, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	bad := errors.New(s.d.Name + ": a job's secret cannot be decrypted (no or wrong SecretKey)")
	if s.sealer == nil {
		return "", bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	a := s.sealer.aead
	if err != nil || len(raw) < a.NonceSize()+a.Overhead() {
		return "", bad
	}
	plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(ad))
	if err != nil {
		return "", bad
	}
	return string(plain), nil
}

// stopQueue stops the queue, if running, before the store closes.
func (s *Store) stopQueue() error {
	if s.queue == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return s.queue.Stop(ctx)
}
