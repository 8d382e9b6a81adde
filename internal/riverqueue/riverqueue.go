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
//   - one send at a time per destination, spaced by the destination's
//     rate limit, across every process on the database (the
//     chatnotify_channel_rate table, migrations 0004 and 0006; see "One send
//     at a time per destination" below):
//     a try takes its destination's lease with its send slot, or snoozes;
//     a 429 or a server error pushes the next slot forward, so a hanging
//     or failing destination holds at most one worker and delays only
//     itself, and a crash can leave at most one message per destination
//     sent but not recorded;
//   - completion in one transaction with the job's effects: the copy it
//     recorded, the jobs it leads to and its entry in the deliveries log
//     (river.JobCompleteTx); a new job's entry is created in the
//     transaction inserting it;
//   - the expiry sweep as a periodic job (Every), and the atomic retry of
//     a failed delivery (Requeue).
package riverqueue

import (
	"context"
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
	// request row is locked FOR SHARE first).
	RecordCopyTx(ctx context.Context, tx TTx, c jobq.Copy) (decided bool, err error)
	// TakeTurn gives the try of the job id the destination key: in one
	// conditional statement, its lease (free, expired, or already the
	// job's) until lease from now, and its send slot, due once interval
	// has passed since the previous send started (by the database's
	// clock). It returns 0 when it took them; otherwise it takes
	// nothing and returns how long the job should snooze before asking
	// again (more than 0), spreading the waiting jobs one interval apart.
	TakeTurn(ctx context.Context, key string, id int64, interval, lease time.Duration) (time.Duration, error)
	// Release gives back the lease of the job id on key, if it holds it,
	// and, when hold is more than 0, pushes key's next send slot to at
	// least hold from now.
	Release(ctx context.Context, key string, id int64, hold time.Duration) error
	// ReleaseTx gives back the lease of the job id on key, if it holds
	// it, in tx.
	ReleaseTx(ctx context.Context, tx TTx, key string, id int64) error
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
	// JobTimeout bounds one try (30 s): it must exceed the Dispatcher's
	// AttemptTimeout (20 s by default) and the reads before the send.
	// RescueStuckJobsAfter is when River's rescuer retries a job left
	// running by a dead process: by default as soon as its try cannot be
	// alive any more, JobTimeout plus the completion's timeout plus a
	// margin (45 s), which is also when a destination lease it held
	// lapses. River checks every 30 s (not configurable), and a rescued
	// job is retried at once (worker.NextRetry). The stores reset the jobs
	// of a process they know is dead sooner (BeforeStart, ClientID).
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
	// reset of jobs left running; on PostgreSQL, the liveness lock of
	// ClientID and the watch for dead clients' jobs).
	BeforeStart func(ctx context.Context) error
	// AfterStop runs once the queue has stopped and no try runs any more
	// (not when Stop gives up on running tries).
	AfterStop func()
	// ClientID is River's client ID (River's Config.ID; its own when
	// empty): the name of this process in river_job.attempted_by.
	ClientID string
}

// Queue is a durable [jobq.Queue] on River.
type Queue[TTx any] struct {
	driver riverdriver.Driver[TTx]
	store  Store[TTx]
	cfg    Config

	mu        sync.Mutex
	client    *river.Client[TTx]
	started   bool
	periodic  []periodicJob // see Every
	afterStop sync.Once     // Config.AfterStop
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
	def(&cfg.RescueStuckJobsAfter, cfg.JobTimeout+completeTimeout+leaseMargin)
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
		ID:                   q.cfg.ClientID,
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
		if q.cfg.AfterStop != nil {
			q.cfg.AfterStop()
		}
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
		q.stopped()
		return nil
	default:
	}
	soft, cancel := q.softStop(ctx)
	defer cancel()
	if err := c.Stop(soft); err == nil {
		q.stopped()
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
		q.stopped()
		return nil
	case <-hard.Done():
		return errors.New("riverqueue: deliveries still running after the stop window; the database must stay open")
	}
}

// stopped runs Config.AfterStop, once.
func (q *Queue[TTx]) stopped() {
	if q.cfg.AfterStop != nil {
		q.afterStop.Do(q.cfg.AfterStop)
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
	var leased string // the destination whose lease this try took
	a := jobq.Attempt{Job: j, ID: job.ID, Number: job.Attempt, CreatedAt: job.CreatedAt,
		Turn: func(ctx context.Context, key string, interval time.Duration) (time.Duration, error) {
			wait, err := q.store.TakeTurn(ctx, key, job.ID, interval, q.lease())
			if err != nil || wait <= 0 {
				// After an error the lease may be the job's all the same:
				// giving it back below is harmless if it is not.
				leased = key
			}
			return wait, err
		}}
	out := w.run(ctx, a)
	done := func(err error) {
		if out.Done != nil {
			out.Done(err)
		}
	}
	if out.Err == nil && out.Snooze <= 0 {
		// Done: the lease is given back in the completion's transaction.
		if err := w.complete(ctx, job, out, leased); err != nil {
			w.release(ctx, job, leased, jobq.Outcome{})
			return err
		}
		done(nil)
		return nil
	}
	// The try is over: the destination is free for its next job (after
	// the hold a failure asks for) before River records this one's end.
	w.release(ctx, job, leased, out)
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
	default:
		q.log(ctx, out.Log)
		return out.Err
	}
}

// NextRetry retries at once a job River's rescuer found left running by
// a dead process (its try began RescueStuckJobsAfter ago or more, longer
// than any live try lasts): it waited long enough. Other failures get the
// client's retry policy (zero time).
func (w *worker[TTx]) NextRetry(job *river.Job[args]) time.Time {
	if job.AttemptedAt != nil && time.Since(*job.AttemptedAt) >= w.q.cfg.RescueStuckJobsAfter {
		return time.Now()
	}
	return time.Time{}
}

// release gives back the lease the try took on leased, if any, and
// applies the hold its outcome asks for (out.HoldKey: a 429's Retry-After,
// or the job's own next backoff after a server error or no answer).
func (w *worker[TTx]) release(ctx context.Context, job *river.Job[args], leased string, out jobq.Outcome) {
	if leased == "" && out.HoldKey == "" {
		return
	}
	q := w.q
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rel := func(key string, hold time.Duration) {
		if err := q.store.Release(ctx, key, job.ID, hold); err != nil {
			q.cfg.Logger.WarnContext(ctx, "riverqueue: could not release a destination; it is free again once its lease lapses",
				"job_id", job.ID, "err", err)
		}
	}
	if out.HoldKey != "" {
		hold := q.HoldFor(len(job.Errors))
		if !out.HoldUntil.IsZero() {
			hold = time.Until(out.HoldUntil)
		}
		rel(out.HoldKey, max(hold, time.Millisecond))
	}
	if leased != "" && leased != out.HoldKey {
		rel(leased, 0)
	}
}

// complete records the try's effects, gives back the lease it took on
// leased and completes the job in one transaction. The deliveries log never decides a delivery: should its
// writes fail, the completion is made again without them (and the end of
// the try written after it), rather than the job retried and its message
// sent twice.
func (w *worker[TTx]) complete(ctx context.Context, job *river.Job[args], out jobq.Outcome, leased string) error {
	// The platform has answered: finish even if the job's context is
	// being cancelled, so the copy is not sent twice.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completeTimeout)
	defer cancel()
	err := w.completeTx(ctx, job, out, leased, true)
	var le logError
	if !errors.As(err, &le) {
		return err
	}
	w.q.cfg.Logger.ErrorContext(ctx, "riverqueue: could not save the deliveries log with a job's completion; completing it without",
		"err", le.err)
	if err := w.completeTx(ctx, job, out, leased, false); err != nil {
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
func (w *worker[TTx]) completeTx(ctx context.Context, job *river.Job[args], out jobq.Outcome, leased string, withLog bool) error {
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
	if leased != "" {
		if err := q.store.ReleaseTx(ctx, tx, leased, job.ID); err != nil {
			_ = q.store.Rollback(tx)
			return err
		}
	}
	if _, err := river.JobCompleteTx[riverdriver.Driver[TTx]](ctx, tx, job); err != nil {
		_ = q.store.Rollback(tx)
		return fmt.Errorf("riverqueue: completing a job: %w", err)
	}
	return q.store.Commit(tx)
}

// HoldFor is how long a destination is held after the try that failed
// with n errors already recorded: the job's own next retry.
func (q *Queue[TTx]) HoldFor(n int) time.Duration {
	return retryPolicy{base: q.cfg.RetryBase, cap: q.cfg.RetryCap}.delay(n)
}

// One send at a time per destination. River OSS has no per-key
// concurrency limit (River Pro's concurrency limits are what would do it),
// and a River queue per destination does not scale (each queue polls), so
// the limit is written here, on the destination's row in
// chatnotify_channel_rate, shared by every process on the database:
//
//   - a try about to send asks for its destination's turn (Store.TakeTurn):
//     one conditional statement takes the destination's lease (free,
//     lapsed, or already this job's: a job run again after a crash takes
//     it back at once) with its send slot, due once the destination's
//     interval has passed since the previous send started. Slots are not
//     reserved ahead: a job fetched late cannot send together with another;
//   - a job that does not get its turn snoozes (no attempt spent), until
//     the slot when only the spacing holds it, otherwise until a wake-up
//     time handed out one interval apart: the waiting jobs of a busy or
//     hanging destination ask about once per interval in all, not each in
//     a loop, and take no worker meanwhile;
//   - the lease is given back in the transaction completing the job (its
//     copy recorded), or right after a try that failed, was cancelled or
//     was cut by a stop, with the hold a failure asks for;
//   - a lease left by a killed process lapses after lease(): JobTimeout
//     bounds the try and completeTimeout its completion, so a lapsed lease
//     has no live try behind it.
//
// So a crash leaves at most one message per destination sent but not
// recorded (the only duplicate it may cause), and a destination that
// hangs or answers slowly holds one worker and delays only itself.

// completeTimeout bounds the completion of a job whose platform call
// succeeded, and leaseMargin is added to the lease beyond the try's
// bounds.
const (
	completeTimeout = 10 * time.Second
	leaseMargin     = 5 * time.Second
)

// lease is how long a destination's lease lasts: past the try's
// JobTimeout and its completion's timeout, so that it lapses only when the
// try is gone (its process killed).
func (q *Queue[TTx]) lease() time.Duration {
	return q.cfg.JobTimeout + completeTimeout + leaseMargin
}
