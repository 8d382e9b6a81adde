package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
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
	if s.d.Kind == PostgreSQL && qc.ClientID == "" {
		l := newLiveness(s, qc.Logger)
		qc.ClientID = l.id
		before, after := qc.BeforeStart, qc.AfterStop
		qc.BeforeStart = func(ctx context.Context) error {
			if before != nil {
				if err := before(ctx); err != nil {
					return err
				}
			}
			return l.start(ctx)
		}
		qc.AfterStop = func() {
			l.close()
			if after != nil {
				after()
			}
		}
	}
	s.queue = riverqueue.New(cfg.River, riverStore{s}, qc)
}

// On PostgreSQL, the jobs a killed process left running are worked again
// within seconds, rather than after River's rescuer (RescueStuckJobsAfter
// plus up to its 30 s interval): the store knows which River clients are
// dead. Each process names its River client liveIDPrefix + a random ID
// (River appends it to river_job.attempted_by when it fetches a job) and
// holds, for as long as its queue runs, a session advisory lock keyed by
// that ID on a connection of its own; PostgreSQL drops the lock when the
// process dies (its connections close). Every livenessCheck, each process
// lists the clients of the jobs in state running and River's leader, and
// tries the lock of each of the others in a transaction: a client whose
// lock it gets, and still gets livenessGrace later (so that a live process
// whose lock's connection broke has time to take it again), is dead. Its
// running jobs go back to available with their attempt given back, and
// its leadership ends (River's river_leader row; otherwise the jobs
// snoozed for more than 5 s would wait for it to lapse, since only the
// leader's scheduler wakes them), like the SQLite store's reset at startup
// (store/sqlite). Clients named otherwise
// (a release before this one, during a rolling deploy) are left to
// River's rescuer. A destination lease such a job held is the job's own:
// worked again, it takes it back at once.
const (
	liveIDPrefix  = "chatnotify-live-"
	livenessClass = int32(0x636e6c76) // "cnlv": the locks' first key
	livenessCheck = time.Second
	livenessGrace = 4 * time.Second
)

// liveness is a process's liveness lock and its watch for dead clients.
type liveness struct {
	s      *Store
	log    *slog.Logger
	id     string // this process's River client ID
	jobs   string // River's job table
	leader string // and its leader table

	conn       *sql.Conn // holds id's lock; used by the watch only once started
	stop, done chan struct{}
	closeOnce  sync.Once
}

func newLiveness(s *Store, log *slog.Logger) *liveness {
	var b [12]byte
	randRead(b[:])
	prefix := ""
	if s.riverSchema != "" {
		prefix = quoteIdent(s.riverSchema) + "."
	}
	if log == nil {
		log = s.log
	}
	return &liveness{s: s, log: log, id: liveIDPrefix + hex.EncodeToString(b[:]),
		jobs: prefix + "river_job", leader: prefix + "river_leader",
		stop: make(chan struct{}), done: make(chan struct{})}
}

// liveKey is the lock's second key for the client id.
func liveKey(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32())
}

// start takes the lock and starts the watch.
func (l *liveness) start(ctx context.Context) error {
	conn, err := l.lock(ctx)
	if err != nil {
		return err
	}
	l.conn = conn
	go l.watch()
	return nil
}

// lock takes this process's lock on a connection of its own.
func (l *liveness) lock(ctx context.Context) (*sql.Conn, error) {
	conn, err := l.s.wdb.Conn(ctx)
	if err != nil {
		return nil, l.s.dbError("taking the queue's liveness lock", err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, livenessClass, liveKey(l.id)).Scan(&ok); err != nil || !ok {
		discard(conn)
		if err == nil {
			err = errors.New("held by another session")
		}
		return nil, l.s.dbError("taking the queue's liveness lock", err)
	}
	return conn, nil
}

// close stops the watch and gives the lock back.
func (l *liveness) close() {
	l.closeOnce.Do(func() {
		if l.conn == nil {
			return // never started
		}
		close(l.stop)
		<-l.done
		discard(l.conn)
	})
}

// discard closes conn's session, rather than returning it to the pool
// with the lock it holds.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

func (l *liveness) watch() {
	defer close(l.done)
	suspects := map[string]time.Time{} // client → since when its lock is free
	t := time.NewTicker(livenessCheck)
	defer t.Stop()
	for {
		l.check(suspects)
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
	}
}

// check keeps this process's lock (taking it again on a new connection if
// its connection broke) and resets the running jobs of the clients found
// dead.
func (l *liveness) check(suspects map[string]time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), livenessCheck)
	defer cancel()
	var held bool
	err := l.conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND pid = pg_backend_pid() AND objsubid = 2 AND classid::bigint = $1 AND objid::bigint = $2)`,
		int64(livenessClass), int64(uint32(liveKey(l.id)))).Scan(&held)
	if err != nil || !held {
		discard(l.conn)
		conn, err := l.lock(ctx)
		if err != nil {
			l.log.ErrorContext(ctx, l.s.d.Name+": the queue lost its liveness lock and cannot take it again; "+
				"other processes may work its running jobs again", "client_id", l.id, "err", err)
			return
		}
		l.conn = conn
		l.log.WarnContext(ctx, l.s.d.Name+": the queue's liveness lock was lost and taken again", "client_id", l.id)
	}
	rows, err := l.s.wdb.QueryContext(ctx, `SELECT DISTINCT c FROM (
		SELECT attempted_by[array_upper(attempted_by, 1)] AS c FROM `+l.jobs+` WHERE state = 'running'
		UNION ALL SELECT leader_id FROM `+l.leader+`) AS clients WHERE c LIKE '`+liveIDPrefix+`%'`)
	if err != nil {
		return // the next check tries again
	}
	var clients []string
	for rows.Next() {
		var c string
		if rows.Scan(&c) == nil && c != l.id {
			clients = append(clients, c)
		}
	}
	rows.Close()
	for c := range suspects {
		if !slices.Contains(clients, c) {
			delete(suspects, c)
		}
	}
	for _, c := range clients {
		n, dead, err := l.resetIfDead(ctx, c, suspects)
		switch {
		case err != nil:
			return
		case !dead:
			delete(suspects, c)
		case n > 0:
			delete(suspects, c)
			l.log.InfoContext(ctx, l.s.d.Name+": a dead process's running jobs are queued again (and its River leadership ended)",
				"dead_client_id", c, "rows", n)
		}
	}
}

// resetIfDead resets the running jobs of client c, and ends its River
// leadership if it had it, when its lock is free and was already free
// livenessGrace ago (suspects records since when). n counts the rows
// changed: jobs, and the leader's.
func (l *liveness) resetIfDead(ctx context.Context, c string, suspects map[string]time.Time) (n int64, dead bool, err error) {
	tx, err := l.s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, livenessClass, liveKey(c)).Scan(&dead); err != nil || !dead {
		return 0, false, err
	}
	since, ok := suspects[c]
	if !ok {
		suspects[c] = time.Now()
		return 0, true, nil
	}
	if time.Since(since) < livenessGrace {
		return 0, true, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+l.jobs+` SET state = 'available', attempt = greatest(attempt - 1, 0)
		WHERE state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = $1`, c)
	if err != nil {
		return 0, true, err
	}
	lres, err := tx.ExecContext(ctx, `DELETE FROM `+l.leader+` WHERE leader_id = $1`, c)
	if err != nil {
		return 0, true, err
	}
	if err := tx.Commit(); err != nil {
		return 0, true, err
	}
	n, _ = res.RowsAffected()
	led, _ := lres.RowsAffected()
	return n + led, true, nil
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
		// A decision committing meanwhile waits for this transaction (its
		// UPDATE conflicts with the share lock), and then lists this copy;
		// or it came first, and this read waits for it and sees it. Share
		// locks do not conflict with each other: the copies of one request
		// (a fan-out to many channels) are recorded side by side.
		lock = " FOR SHARE"
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

// The queries of chatnotify_channel_rate (migrations 0004 and 0006), one
// row per destination: its lease (holder, the River job sending to it,
// until held_until), free_at (the earliest start of its next send) and
// next_allowed_at (the next wake-up time handed to a waiting job). Times
// are nanoseconds since the epoch, by the database's clock, read when the
// statement runs (on SQLite, once it has the write lock: milliseconds).
// riverqueue's "One send at a time per destination" tells the design.
const (
	pgNow     = `(extract(epoch from clock_timestamp()) * 1000000000)::bigint`
	sqliteNow = `(CAST(unixepoch('subsec') * 1000 AS INTEGER) * 1000000)`
	// Read: the destination's state (zeros for a destination never used).
	rateQuery = `SELECT %s, coalesce(r.holder, 0), coalesce(r.held_until, 0), coalesce(r.free_at, 0)
		FROM (SELECT 1) AS one LEFT JOIN chatnotify_channel_rate AS r ON r.dest = ?`
	// Take: the lease and the slot, or nothing (no row returned) when the
	// lease is another job's and not lapsed, or the slot not due.
	// $1 dest, $2 interval, $3 job, $4 lease; excluded.free_at is now +
	// interval.
	pgTakeQuery = `INSERT INTO chatnotify_channel_rate AS r (dest, next_allowed_at, free_at, holder, held_until)
		SELECT $1, c.now + $2::bigint, c.now + $2::bigint, $3::bigint, c.now + $4::bigint FROM (SELECT ` + pgNow + ` AS now) AS c
		ON CONFLICT (dest) DO UPDATE SET next_allowed_at = GREATEST(r.next_allowed_at, excluded.free_at),
			free_at = excluded.free_at, holder = excluded.holder, held_until = excluded.held_until
		WHERE (r.holder = 0 OR r.holder = excluded.holder OR r.held_until <= excluded.free_at - $2::bigint)
			AND r.free_at <= excluded.free_at - $2::bigint
		RETURNING 1`
	// ?1 dest, ?2 interval, ?3 job, ?4 lease.
	sqliteTakeQuery = `INSERT INTO chatnotify_channel_rate (dest, next_allowed_at, free_at, holder, held_until)
		VALUES (?1, ` + sqliteNow + ` + ?2, ` + sqliteNow + ` + ?2, ?3, ` + sqliteNow + ` + ?4)
		ON CONFLICT (dest) DO UPDATE SET next_allowed_at = max(next_allowed_at, excluded.free_at),
			free_at = excluded.free_at, holder = excluded.holder, held_until = excluded.held_until
		WHERE (holder = 0 OR holder = ?3 OR held_until <= excluded.free_at - ?2) AND free_at <= excluded.free_at - ?2
		RETURNING 1`
	// Wake-up: the next one from earliest on, one interval after the
	// previous one handed out. $1 dest, $2 earliest, $3 interval.
	wakeQuery = `UPDATE chatnotify_channel_rate SET next_allowed_at = %s(next_allowed_at, CAST(? AS BIGINT)) + CAST(? AS BIGINT)
		WHERE dest = ? RETURNING next_allowed_at - CAST(? AS BIGINT)`
	// Release: the job's lease given back; with a hold, the next slot
	// (and wake-up) pushed to at least now + hold.
	releaseQuery  = `UPDATE chatnotify_channel_rate SET holder = 0, held_until = 0 WHERE dest = ? AND holder = CAST(? AS BIGINT)`
	pgReleaseHold = `INSERT INTO chatnotify_channel_rate AS r (dest, next_allowed_at, free_at)
		SELECT $1, c.until, c.until FROM (SELECT ` + pgNow + ` + $3::bigint AS until) AS c
		ON CONFLICT (dest) DO UPDATE SET next_allowed_at = GREATEST(r.next_allowed_at, excluded.free_at),
			free_at = GREATEST(r.free_at, excluded.free_at),
			holder = CASE WHEN r.holder = $2::bigint THEN 0 ELSE r.holder END,
			held_until = CASE WHEN r.holder = $2::bigint THEN 0 ELSE r.held_until END`
	// ?1 dest, ?2 job, ?3 hold.
	sqliteReleaseHold = `INSERT INTO chatnotify_channel_rate (dest, next_allowed_at, free_at) VALUES (?1, ` + sqliteNow + ` + ?3, ` + sqliteNow + ` + ?3)
		ON CONFLICT (dest) DO UPDATE SET next_allowed_at = max(next_allowed_at, excluded.free_at), free_at = max(free_at, excluded.free_at),
			holder = CASE WHEN holder = ?2 THEN 0 ELSE holder END,
			held_until = CASE WHEN holder = ?2 THEN 0 ELSE held_until END`
)

// minSnooze is the shortest snooze TakeTurn asks for; a slot due within
// inlineWait is waited for in the worker instead (no round trip through
// River), and wake-ups are handed out wakeLead early, so that a waking job
// is fetched by the time its slot opens.
const (
	minSnooze  = 10 * time.Millisecond
	inlineWait = 100 * time.Millisecond
	wakeLead   = 50 * time.Millisecond
)

// rateState is a destination's row as TakeTurn reads it, at now.
type rateState struct{ now, holder, heldUntil, freeAt int64 }

func (r riverStore) rateState(ctx context.Context, key string) (rateState, error) {
	s := r.s
	now := sqliteNow
	if s.d.Kind == PostgreSQL {
		now = pgNow
	}
	var st rateState
	err := s.rdb.QueryRowContext(ctx, s.q(fmt.Sprintf(rateQuery, now)), key).Scan(&st.now, &st.holder, &st.heldUntil, &st.freeAt)
	if err != nil {
		return rateState{}, s.dbError("reading a destination's turn", err)
	}
	return st, nil
}

// TakeTurn reads the destination's row and, when its lease and slot look
// free, takes them (the conditional statement decides, should another
// process take them first; on PostgreSQL it tries that first). Otherwise: when only the spacing holds the job
// back (by at most one interval), it waits for the slot; when another job
// holds the lease or the slot is further off, it gets a wake-up time,
// handed out one interval apart to the waiting jobs, so that they do not
// all ask at once. (A wake-up handed out to a job that then does not
// snooze, its process killed first, is left unused: the destination idles
// for one interval then, at most once per job in flight at the crash.)
func (r riverStore) TakeTurn(ctx context.Context, key string, id int64, interval, lease time.Duration) (time.Duration, error) {
	s := r.s
	iv := interval.Nanoseconds()
	take := func() (bool, error) {
		var one int
		var err error
		if s.d.Kind == PostgreSQL {
			err = s.wdb.QueryRowContext(ctx, pgTakeQuery, key, iv, id, lease.Nanoseconds()).Scan(&one)
		} else {
			err = s.wdb.QueryRowContext(ctx, sqliteTakeQuery, key, iv, id, lease.Nanoseconds()).Scan(&one)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, s.dbError("taking a destination's turn", err)
		}
		return true, nil
	}
	// On PostgreSQL, try first: a free destination (the usual case) costs
	// one statement. On SQLite, look first: a busy destination's waiting
	// jobs then only read, and leave the one writing connection alone.
	if s.d.Kind == PostgreSQL {
		if ok, err := take(); ok || err != nil {
			return 0, err
		}
	}
	for try := 0; ; try++ {
		st, err := r.rateState(ctx, key)
		if err != nil {
			return 0, err
		}
		free := st.holder == 0 || st.holder == id || st.heldUntil <= st.now
		if free && st.freeAt <= st.now {
			ok, err := take()
			switch {
			case ok || err != nil:
				return 0, err
			case try < 2:
				continue // taken meanwhile: look again
			}
			free = false
		}
		wait := time.Duration(st.freeAt - st.now)
		if free && wait <= inlineWait && try < 2 {
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if free && st.freeAt-st.now <= iv {
			return max(wait, minSnooze), nil
		}
		earliest := st.freeAt
		if !free {
			earliest = max(earliest, st.now+iv)
		}
		fn := "max"
		if s.d.Kind == PostgreSQL {
			fn = "GREATEST"
		}
		var wake int64
		err = s.wdb.QueryRowContext(ctx, s.q(fmt.Sprintf(wakeQuery, fn)), earliest, iv, key, iv).Scan(&wake)
		if errors.Is(err, sql.ErrNoRows) {
			wake, err = earliest, nil // no row: nothing to wait for but earliest
		}
		if err != nil {
			return 0, s.dbError("waiting for a destination's turn", err)
		}
		return max(time.Duration(wake-st.now)-wakeLead, minSnooze), nil
	}
}

func (r riverStore) Release(ctx context.Context, key string, id int64, hold time.Duration) error {
	s := r.s
	var err error
	switch {
	case hold <= 0:
		_, err = s.wdb.ExecContext(ctx, s.q(releaseQuery), key, id)
	case s.d.Kind == PostgreSQL:
		_, err = s.wdb.ExecContext(ctx, pgReleaseHold, key, id, hold.Nanoseconds())
	default:
		_, err = s.wdb.ExecContext(ctx, sqliteReleaseHold, key, id, hold.Nanoseconds())
	}
	if err != nil {
		return s.dbError("releasing a destination", err)
	}
	return nil
}

func (r riverStore) ReleaseTx(ctx context.Context, tx *sql.Tx, key string, id int64) error {
	if _, err := tx.ExecContext(ctx, r.s.q(releaseQuery), key, id); err != nil {
		return r.s.dbError("releasing a destination", err)
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
