// Package riverqueue is chatnotify's durable delivery queue on River
// (github.com/riverqueue/river): a [jobq.Queue] whose jobs live in the
// store's database. It imports no River driver: store/sqlite passes
// riversqlite's, store/postgres riverdatabasesql's, so a host links only
// the driver of its database. It is generic over the driver's transaction
// type; both stores use *sql.Tx, so that a job is inserted in the store's
// own transaction.
//
// What River does and what this package adds:
//
//   - one River job kind per chatnotify job kind ("chatnotify.post", …),
//     all worked by one worker that calls the Dispatcher's Run;
//   - retries: a capped exponential policy (Config.RetryBase doubling up
//     to Config.RetryCap); the horizon (24 h by default) and permanent
//     errors are the Dispatcher's call, which ends the job with
//     river.JobCancel; a snooze (river.JobSnooze) spends no attempt;
//   - a per-destination rate limit shared through the database (the
//     chatnotify_channel_rate table, migration 0004): a job reserves its
//     destination's next slot, keeps it in its metadata, and snoozes until
//     then; a 429 or a server error pushes the slot forward, so a failing
//     destination holds at most one worker;
//   - completion in one transaction with the job's effects: the copy it
//     recorded, the jobs it leads to and its entry in the deliveries log
//     (river.JobCompleteTx); a new job's entry is created in the
//     transaction inserting it;
//   - the expiry sweep as a periodic job (Every), and the atomic retry of
//     a failed delivery (Requeue).
package riverqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/chatnotify/chatnotify/internal/jobq"
)

// kindPrefix prefixes chatnotify's River job kinds.
const kindPrefix = "chatnotify."

// Store is what the queue needs from the store whose database holds it.
type Store[TTx any] interface {
	// Begin starts a write transaction; Commit and Rollback end it.
	Begin(ctx context.Context) (TTx, error)
	Commit(tx TTx) error
	Rollback(tx TTx) error
	// RecordCopyTx records c in tx and reports whether its request is no
	// longer pending, reading it so that a decision committing
	// concurrently either sees the copy or is seen (on PostgreSQL, the
	// request row is locked FOR UPDATE first).
	RecordCopyTx(ctx context.Context, tx TTx, c jobq.Copy) (decided bool, err error)
	// ReserveSlot takes the next send slot of key, interval apart, and
	// returns its time (by the database clock on PostgreSQL).
	ReserveSlot(ctx context.Context, key string, interval time.Duration) (time.Time, error)
	// Hold pushes key's next slot to at least until.
	Hold(ctx context.Context, key string, until time.Time) error
	// LogTx writes logs to the deliveries log in tx: a new delivery
	// (IsNew) is inserted pending unless one has its ID already; the end
	// of a try updates the delivery (adding its Attempts, keeping its
	// first failure's time).
	LogTx(ctx context.Context, tx TTx, logs ...jobq.Log) error
	// RequeueTx sets the delivery id of orgID from failed to pending in
	// tx (Reason and Code cleared, UpdatedAt at), and reports whether it
	// was failed.
	RequeueTx(ctx context.Context, tx TTx, orgID, id string, at time.Time) (bool, error)
	// SealSecret and OpenSecret protect a job's Secret at rest (with the
	// store's SecretKey; as is without one). ad binds it to its job.
	SealSecret(plain, ad string) string
	OpenSecret(stored, ad string) (string, error)
}

// Config configures a Queue. The zero value gives the defaults.
type Config struct {
	// Schema is River's PostgreSQL schema (empty on SQLite).
	Schema string
	// MaxWorkers is the jobs worked at once (100).
	MaxWorkers int
	// FetchCooldown and FetchPollInterval: 20 ms and 50 ms.
	FetchCooldown, FetchPollInterval time.Duration
	// JobTimeout bounds one try (30 s); RescueStuckJobsAfter is when a job
	// left running by a dead process is retried (60 s).
	JobTimeout, RescueStuckJobsAfter time.Duration
	// RetryBase and RetryCap shape the backoff (5 s doubling up to 15 min).
	RetryBase, RetryCap time.Duration
	// SoftStopTimeout is how long Stop lets running jobs finish before
	// cancelling them (they go back to available), when Stop's ctx has no
	// deadline; 10 s. With a deadline, Stop uses it (see Stop).
	SoftStopTimeout time.Duration
	// MaxAttempts (200) is far beyond the Dispatcher's horizon.
	MaxAttempts int
	Logger      *slog.Logger
	// BeforeStart runs once before the client starts (the SQLite startup
	// reset of jobs left running).
	BeforeStart func(ctx context.Context) error
}

// Queue is a durable [jobq.Queue] on River.
type Queue[TTx any] struct {
	driver riverdriver.Driver[TTx]
	store  Store[TTx]
	cfg    Config

	mu       sync.Mutex
	client   *river.Client[TTx]
	started  bool
	periodic []periodicJob // see Every
}

// periodicJob is a job kind inserted every interval (see Every).
type periodicJob struct {
	kind     string
	interval time.Duration
}

// New returns a Queue on driver, whose database is store's. It starts
// nothing; River's tables must exist (see Migrate).
func New[TTx any](driver riverdriver.Driver[TTx], store Store[TTx], cfg Config) *Queue[TTx] {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 100
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 200
	}
	def(&cfg.FetchCooldown, 20*time.Millisecond)
	def(&cfg.FetchPollInterval, 50*time.Millisecond)
	def(&cfg.JobTimeout, 30*time.Second)
	def(&cfg.RescueStuckJobsAfter, 60*time.Second)
	def(&cfg.RetryBase, 5*time.Second)
	def(&cfg.RetryCap, 15*time.Minute)
	def(&cfg.SoftStopTimeout, 10*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Queue[TTx]{driver: driver, store: store, cfg: cfg}
}

// args is the River job args of every kind: the kind is chosen at
// insert time (River's Kind is read from the value).
type args struct {
	kind string
	jobq.Args
	Secret string `json:"secret,omitempty"` // sealed
}

func (a args) Kind() string { return kindPrefix + a.kind }

// inFlightStates are the states of a job not finished yet: a periodic
// job is not inserted again while one is in them, so a slow run is not
// doubled by the next tick. (River requires available, pending, running
// and scheduled in any unique set.)
var inFlightStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// Every implements [jobq.Periodic]: River's periodic job, which only the
// elected leader among the clients on the database inserts. Calls after
// Start are ignored.
func (q *Queue[TTx]) Every(kind string, interval time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started || interval <= 0 {
		return
	}
	q.periodic = append(q.periodic, periodicJob{kind: kind, interval: interval})
}

// uniqueStates is every state: a unique job is inserted once, ever (as
// long as River retains it: completed jobs for 24 h).
var uniqueStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted,
	rivertype.JobStateDiscarded, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// Started reports whether Start has run, even if Stop has since: the
// store inserts its hand-off jobs from then on, so that a request created
// after Stop (a handler finishing during shutdown) is handed over to the
// next start rather than left without its notifications.
func (q *Queue[TTx]) Started() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.started
}

// Start implements [jobq.Queue].
func (q *Queue[TTx]) Start(ctx context.Context, run jobq.Run) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return errors.New("riverqueue: already started")
	}
	workers := river.NewWorkers()
	w := &worker[TTx]{q: q, run: run}
	for _, k := range jobq.Kinds {
		river.AddWorkerArgs(workers, args{kind: k}, river.Worker[args](w))
	}
	var periodic []*river.PeriodicJob
	for _, p := range q.periodic {
		if !slices.Contains(jobq.Kinds, p.kind) {
			river.AddWorkerArgs(workers, args{kind: p.kind}, river.Worker[args](w))
		}
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(p.interval),
			func() (river.JobArgs, *river.InsertOpts) {
				return args{kind: p.kind}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: inFlightStates}}
			}, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	client, err := river.NewClient(q.driver, &river.Config{
		Schema:               q.cfg.Schema,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: q.cfg.MaxWorkers}},
		Workers:              workers,
		FetchCooldown:        q.cfg.FetchCooldown,
		FetchPollInterval:    q.cfg.FetchPollInterval,
		JobTimeout:           q.cfg.JobTimeout,
		RescueStuckJobsAfter: q.cfg.RescueStuckJobsAfter,
		// No SoftStopTimeout: Stop applies its own window, from its ctx.
		MaxAttempts:  q.cfg.MaxAttempts,
		PeriodicJobs: periodic,
		RetryPolicy:  retryPolicy{base: q.cfg.RetryBase, cap: q.cfg.RetryCap},
		Logger:       q.cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("riverqueue: %w", err)
	}
	if q.cfg.BeforeStart != nil {
		if err := q.cfg.BeforeStart(ctx); err != nil {
			return err
		}
	}
	// Set before the workers start: they read it without the lock.
	q.client = client
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		q.client = nil
		return fmt.Errorf("riverqueue: starting: %w", err)
	}
	q.started = true
	return nil
}

// Stop implements [jobq.Queue]: River stops fetching and lets the running
// tries finish until shortly before ctx's deadline (stopMargin before it;
// SoftStopTimeout when ctx has none), then cancels them: a try cancelled
// so goes back to available with its attempt restored, for the next start
// (or another replica) to make. Stop returns nil once no try runs any
// more, cancelled ones included; if the tries still run stopWait after
// ctx has ended (a worker ignoring its context), it gives up and returns
// an error: the database must then stay open. Stop may be called again,
// and concurrently; each call returns when the queue has stopped.
func (q *Queue[TTx]) Stop(ctx context.Context) error {
	q.mu.Lock()
	c := q.client
	q.mu.Unlock()
	if c == nil {
		return nil
	}
	select {
	case <-c.Stopped():
		return nil
	default:
	}
	soft, cancel := q.softStop(ctx)
	defer cancel()
	if err := c.Stop(soft); err == nil {
		return nil
	}
	// The window is over: cancel the running tries, and wait for them to
	// return, which they do promptly (their work honours ctx; a completion
	// under way is bounded by its own timeout).
	q.cfg.Logger.WarnContext(ctx, "riverqueue: stopping: cancelling the running deliveries; they stay queued for the next start")
	hard, cancelHard := context.WithTimeout(context.WithoutCancel(ctx), stopWait)
	defer cancelHard()
	go func() { _ = c.StopAndCancel(hard) }()
	select {
	case <-c.Stopped():
		return nil
	case <-hard.Done():
		return errors.New("riverqueue: deliveries still running after the stop window; the database must stay open")
	}
}

// stopMargin is the part of Stop's window kept for cancelling the tries
// still running and recording that they go back to the queue; stopWait
// bounds how long Stop waits for them once cancelled.
const (
	stopMargin = 2 * time.Second
	stopWait   = 15 * time.Second
)

// softStop returns the context of Stop's graceful part: ctx less
// stopMargin (or a quarter of what is left, when that is shorter), or
// SoftStopTimeout when ctx has no deadline.
func (q *Queue[TTx]) softStop(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, q.cfg.SoftStopTimeout)
	}
	margin := min(stopMargin, time.Until(dl)/4)
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// Push implements [jobq.Queue] for TTx = *sql.Tx (the stores' case)
// through PushTx; a nil tx inserts in a transaction of its own.
func (q *Queue[TTx]) PushTx(ctx context.Context, tx TTx, jobs ...jobq.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	q.mu.Lock()
	c := q.client
	q.mu.Unlock()
	if c == nil {
		return errors.New("riverqueue: not started")
	}
	return q.insertTx(ctx, c, tx, jobs)
}

// insertTx inserts jobs and their new deliveries (Job.Log) in tx.
func (q *Queue[TTx]) insertTx(ctx context.Context, c *river.Client[TTx], tx TTx, jobs []jobq.Job) error {
	if _, err := c.InsertManyTx(ctx, tx, q.params(jobs)); err != nil {
		return fmt.Errorf("riverqueue: inserting jobs: %w", err)
	}
	var logs []jobq.Log
	for _, j := range jobs {
		if j.Log != nil {
			logs = append(logs, *j.Log)
		}
	}
	if len(logs) > 0 {
		if err := q.store.LogTx(ctx, tx, logs...); err != nil {
			return logError{err}
		}
	}
	return nil
}

// Requeue implements [jobq.Requeuer].
func (q *Queue[TTx]) Requeue(ctx context.Context, orgID, id string, at time.Time, job jobq.Job) (bool, error) {
	q.mu.Lock()
	c := q.client
	q.mu.Unlock()
	if c == nil {
		return false, errors.New("riverqueue: not started")
	}
	tx, err := q.store.Begin(ctx)
	if err != nil {
		return false, err
	}
	won, err := q.store.RequeueTx(ctx, tx, orgID, id, at)
	if err == nil && won {
		err = q.insertTx(ctx, c, tx, []jobq.Job{job})
	}
	if err != nil || !won {
		_ = q.store.Rollback(tx)
		return false, err
	}
	if err := q.store.Commit(tx); err != nil {
		return false, err
	}
	return true, nil
}

// log writes the end of a try that did not complete its job, in a
// transaction of its own. A failure is logged, never returned: the log
// never decides a delivery.
func (q *Queue[TTx]) log(ctx context.Context, l *jobq.Log) {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := func() error {
		tx, err := q.store.Begin(ctx)
		if err != nil {
			return err
		}
		if err := q.store.LogTx(ctx, tx, *l); err != nil {
			_ = q.store.Rollback(tx)
			return err
		}
		return q.store.Commit(tx)
	}()
	if err != nil {
		q.cfg.Logger.ErrorContext(ctx, "riverqueue: could not save a delivery in the deliveries log; the delivery goes on",
			"org_id", l.OrgID, "delivery_id", l.ID, "status", l.Status, "err", err)
	}
}

// PushOwnTx inserts jobs in a transaction of the store's.
func (q *Queue[TTx]) PushOwnTx(ctx context.Context, jobs ...jobq.Job) error {
	tx, err := q.store.Begin(ctx)
	if err != nil {
		return err
	}
	if err := q.PushTx(ctx, tx, jobs...); err != nil {
		_ = q.store.Rollback(tx)
		return err
	}
	return q.store.Commit(tx)
}

func (q *Queue[TTx]) params(jobs []jobq.Job) []river.InsertManyParams {
	ps := make([]river.InsertManyParams, len(jobs))
	for i, j := range jobs {
		a := args{kind: j.Kind, Args: j.Args}
		if j.Secret != "" {
			a.Secret = q.store.SealSecret(j.Secret, secretAD(j))
		}
		p := river.InsertManyParams{Args: a}
		if j.Unique {
			p.InsertOpts = &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueStates}}
		}
		ps[i] = p
	}
	return ps
}

// secretAD binds a job's sealed secret to the job's kind and request.
func secretAD(j jobq.Job) string {
	return "chatnotify/jobs/" + j.Kind + "/" + j.Args.OrgID + "/" + j.Args.ApprovalID + "/secret"
}

// retryPolicy is capped exponential backoff with ±10 % jitter. It counts
// errors, not attempts, so snoozes never lengthen it.
type retryPolicy struct{ base, cap time.Duration }

func (p retryPolicy) NextRetry(j *rivertype.JobRow) time.Time {
	return time.Now().Add(jitter(p.delay(len(j.Errors))))
}

// delay is the wait after n recorded errors (before the current one).
func (p retryPolicy) delay(n int) time.Duration {
	d := p.base << min(n, 30)
	if d > p.cap || d <= 0 {
		d = p.cap
	}
	return d
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// worker works every chatnotify job kind.
type worker[TTx any] struct {
	river.WorkerDefaults[args]
	q   *Queue[TTx]
	run jobq.Run
}

// slotKey is the job metadata key of a reserved rate-limit slot.
const slotKey = "chatnotify_slot"

// staleSlot: a reservation more than this late (the job was not worked on
// time, e.g. across a restart) is taken again, so that a restart does not
// release a burst.
const staleSlot = 2 * time.Second

func (w *worker[TTx]) Work(ctx context.Context, job *river.Job[args]) error {
	q := w.q
	j := jobq.Job{Kind: strings.TrimPrefix(job.Kind, kindPrefix), Args: job.Args.Args}
	if job.Args.Secret != "" {
		s, err := q.store.OpenSecret(job.Args.Secret, secretAD(j))
		if err != nil {
			return river.JobCancel(err)
		}
		j.Secret = s
	}
	a := jobq.Attempt{Job: j, ID: job.ID, Number: job.Attempt, CreatedAt: job.CreatedAt,
		Turn: func(ctx context.Context, key string, interval time.Duration) (time.Duration, error) {
			return w.turn(ctx, job, key, interval)
		}}
	out := w.run(ctx, a)
	if out.HoldKey != "" {
		until := out.HoldUntil
		if until.IsZero() {
			until = time.Now().Add(q.HoldFor(len(job.Errors)))
		}
		if err := q.store.Hold(context.WithoutCancel(ctx), out.HoldKey, until); err != nil {
			q.cfg.Logger.WarnContext(ctx, "riverqueue: could not hold a destination", "err", err)
		}
	}
	done := func(err error) {
		if out.Done != nil {
			out.Done(err)
		}
	}
	switch {
	case ctx.Err() != nil && out.Err != nil:
		// Stopping (or JobTimeout): River puts the job back, or retries it.
		return ctx.Err()
	case out.Err != nil && out.Permanent:
		q.log(ctx, out.Log)
		done(out.Err)
		return river.JobCancel(out.Err)
	case out.Snooze > 0:
		q.log(ctx, out.Log)
		return river.JobSnooze(out.Snooze)
	case out.Err != nil:
		q.log(ctx, out.Log)
		return out.Err
	}
	if err := w.complete(ctx, job, out); err != nil {
		return err
	}
	done(nil)
	return nil
}

// complete records the try's effects and completes the job in one
// transaction. The deliveries log never decides a delivery: should its
// writes fail, the completion is made again without them (and the end of
// the try written after it), rather than the job retried and its message
// sent twice.
func (w *worker[TTx]) complete(ctx context.Context, job *river.Job[args], out jobq.Outcome) error {
	// The platform has answered: finish even if the job's context is
	// being cancelled, so the copy is not sent twice.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := w.completeTx(ctx, job, out, true)
	var le logError
	if !errors.As(err, &le) {
		return err
	}
	w.q.cfg.Logger.ErrorContext(ctx, "riverqueue: could not save the deliveries log with a job's completion; completing it without",
		"err", le.err)
	if err := w.completeTx(ctx, job, out, false); err != nil {
		return err
	}
	w.q.log(ctx, out.Log)
	return nil
}

// logError is a failed write to the deliveries log.
type logError struct{ err error }

func (e logError) Error() string { return e.err.Error() }

// completeTx is complete's transaction, with the deliveries log's writes
// when withLog is set.
func (w *worker[TTx]) completeTx(ctx context.Context, job *river.Job[args], out jobq.Outcome, withLog bool) error {
	q := w.q
	tx, err := q.store.Begin(ctx)
	if err != nil {
		return err
	}
	push := out.Push
	if out.Copy != nil {
		decided, err := q.store.RecordCopyTx(ctx, tx, *out.Copy)
		if err != nil {
			_ = q.store.Rollback(tx)
			return err
		}
		if decided {
			push = append(push, out.IfDecided...)
		}
	}
	if !withLog {
		push = slices.Clone(push)
		for i := range push {
			push[i].Log = nil
		}
	}
	if len(push) > 0 {
		if err := q.insertTx(ctx, q.client, tx, push); err != nil {
			_ = q.store.Rollback(tx)
			return err
		}
	}
	if out.Log != nil && withLog {
		if err := q.store.LogTx(ctx, tx, *out.Log); err != nil {
			_ = q.store.Rollback(tx)
			return logError{err}
		}
	}
	if _, err := river.JobCompleteTx[riverdriver.Driver[TTx]](ctx, tx, job); err != nil {
		_ = q.store.Rollback(tx)
		return fmt.Errorf("riverqueue: completing a job: %w", err)
	}
	return q.store.Commit(tx)
}

// turn reserves (or reuses) the job's slot for key and returns how long
// to wait for it.
func (w *worker[TTx]) turn(ctx context.Context, job *river.Job[args], key string, interval time.Duration) (time.Duration, error) {
	now := time.Now()
	var meta map[string]json.RawMessage
	_ = json.Unmarshal(job.Metadata, &meta)
	var ns int64
	if raw, ok := meta[slotKey]; ok {
		_ = json.Unmarshal(raw, &ns)
	}
	slot := time.Unix(0, ns)
	if ns == 0 || slot.Before(now.Add(-staleSlot)) {
		var err error
		if slot, err = w.q.store.ReserveSlot(ctx, key, interval); err != nil {
			return 0, err
		}
	}
	wait := time.Until(slot)
	if wait <= 5*time.Millisecond {
		return 0, nil
	}
	if err := river.MetadataSet(ctx, slotKey, slot.UnixNano()); err != nil {
		return 0, err
	}
	return wait, nil
}

// HoldFor is how long a destination is held after the try that failed
// with n errors already recorded: the job's own next retry.
func (q *Queue[TTx]) HoldFor(n int) time.Duration {
	return retryPolicy{base: q.cfg.RetryBase, cap: q.cfg.RetryCap}.delay(n)
}
