package notify

import (
	"sync"
	"time"
)

// queue is the Dispatcher's in-memory job queue. Jobs wait per
// destination (see [job.destination]), first in, first out; a
// destination runs one job at a time, including while that job waits to
// be retried, so its jobs keep their order and a slow or failing
// destination holds back only its own. Workers take the jobs of the
// destinations that are ready in turn. A job waiting for its retry holds
// no worker.
//
// It is the seam a durable queue replaces: push is an insert (of several
// jobs at once, atomically), run is one try of one job, and a retry is a
// job scheduled again after a wait.
type queue struct {
	workers int
	limit   int // jobs waiting, beyond which callers get ErrQueueFull
	run     func(*job) (wait time.Duration, retry bool)
	sleep   func(time.Duration) error // the Dispatcher's Sleep under its base context

	mu      sync.Mutex
	changed *sync.Cond // for workers: a destination became ready, or the queue may be done
	idle    *sync.Cond // for waitIdle: no job is left
	dests   map[string]*dest
	ready   []*dest // destinations with a waiting job and no job running
	waiting int     // jobs in the destinations' lists
	live    int     // jobs accepted and not finished
	started bool
	closed  bool
	exited  sync.WaitGroup // the workers
	done    chan struct{}  // closed when the workers have exited after close

	// Follow-up work held back while clicks keep arriving (see hold).
	maxHold   time.Duration // how long a job may be held; <= 0: never
	held      []heldJob
	holds     uint64 // counts hold calls: the releaser's measure of activity
	releasing bool   // a releaser goroutine is running
	// holdSleep and holdNow are the releaser's clock: time.Sleep and
	// time.Now, replaced by tests.
	holdSleep func(time.Duration)
	holdNow   func() time.Time
}

// heldJob is a job held back by hold, with when it was.
type heldJob struct {
	j  *job
	at time.Time
}

// Polling of the releaser: it looks whether hold was called since its
// last look after holdPoll, then at doubling intervals up to maxHoldPoll.
const (
	holdPoll    = 2 * time.Millisecond
	maxHoldPoll = 32 * time.Millisecond
)

// dest is one destination's jobs.
type dest struct {
	key   string
	jobs  []*job
	busy  bool // one of its jobs is running or waiting for a retry
	ready bool // in queue.ready
}

func (q *queue) init(workers, limit int, maxHold time.Duration, run func(*job) (time.Duration, bool), sleep func(time.Duration) error) {
	q.workers, q.limit, q.maxHold, q.run, q.sleep = workers, limit, maxHold, run, sleep
	q.changed = sync.NewCond(&q.mu)
	q.idle = sync.NewCond(&q.mu)
	q.dests = make(map[string]*dest)
	q.done = make(chan struct{})
	q.holdSleep, q.holdNow = time.Sleep, time.Now
}

// push queues jobs, all or none. A caller's push (expand false) is
// refused with ErrClosed after close and ErrQueueFull when the waiting
// jobs would exceed the limit; the jobs that already accepted work
// expands into (expand true) are always taken. The first push starts
// the workers.
func (q *queue) push(expand bool, jobs ...*job) error {
	if len(jobs) == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.admit(expand, len(jobs)); err != nil {
		return err
	}
	for _, j := range jobs {
		q.live++
		q.add(j)
	}
	return nil
}

// hold is push for a caller's follow-up work (message updates and
// answers to clicks): while holds keep coming, one after another within
// a few milliseconds, as they do in a burst of clicks, the jobs are held
// back, up to maxHold, so that the CPU goes to acknowledging the clicks
// within Slack's 3 seconds rather than to updating messages, which Slack
// accepts for 30 minutes. They are queued as soon as hold has not been
// called for a moment (2 ms, then doubling up to 32 ms while calls keep
// coming), after maxHold at the latest, and at once on close. With clicks
// spaced further apart, as people click, nothing waits. Held jobs count
// against the limit like queued ones.
//
// This scheduling is ours: no job library on the Go module proxy orders
// in-process work by the activity of its producers.
func (q *queue) hold(jobs ...*job) error {
	if q.maxHold <= 0 {
		return q.push(false, jobs...)
	}
	if len(jobs) == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.admit(false, len(jobs)); err != nil {
		return err
	}
	now := q.holdNow()
	for _, j := range jobs {
		q.live++
		q.waiting++
		q.held = append(q.held, heldJob{j: j, at: now})
	}
	q.holds++
	if !q.releasing {
		q.releasing = true
		q.exited.Go(q.release)
	}
	return nil
}

// admit checks that n more jobs may be queued and starts the workers.
// The caller holds q.mu.
func (q *queue) admit(expand bool, n int) error {
	if !expand {
		switch {
		case q.closed:
			return ErrClosed
		case q.waiting+n > q.limit:
			return ErrQueueFull
		}
	}
	if !q.started {
		q.started = true
		for range q.workers {
			q.exited.Go(q.work)
		}
	}
	return nil
}

// add puts the accepted job j in its destination's list. The caller
// holds q.mu and has counted j in live.
func (q *queue) add(j *job) {
	key := j.destination()
	d := q.dests[key]
	if d == nil {
		d = &dest{key: key}
		q.dests[key] = d
	}
	d.jobs = append(d.jobs, j)
	q.waiting++
	q.markReady(d)
}

// release runs while jobs are held: it queues them once hold has not
// been called for a poll interval, when the oldest has waited maxHold,
// or when the queue is closed.
func (q *queue) release() {
	poll := holdPoll
	q.mu.Lock()
	seen := q.holds
	q.mu.Unlock()
	for {
		q.holdSleep(poll)
		q.mu.Lock()
		quiet := q.holds == seen
		if quiet || q.closed || q.holdNow().Sub(q.held[0].at) >= q.maxHold {
			for i, h := range q.held {
				q.waiting-- // add counts it again
				q.add(h.j)
				q.held[i] = heldJob{}
			}
			q.held = q.held[:0]
			if quiet || q.closed {
				q.releasing = false
				q.mu.Unlock()
				return
			}
			poll = holdPoll
		} else {
			poll = min(2*poll, maxHoldPoll)
		}
		seen = q.holds
		q.mu.Unlock()
	}
}

// markReady puts d in the ready list if it has a job to run and none
// running. The caller holds q.mu.
func (q *queue) markReady(d *dest) {
	if d.busy || d.ready || len(d.jobs) == 0 {
		return
	}
	d.ready = true
	q.ready = append(q.ready, d)
	q.changed.Signal()
}

// next returns the next job to run, marking its destination busy, or
// false once the queue is closed and every job has finished.
func (q *queue) next() (*job, *dest, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ready) == 0 {
		if q.closed && q.live == 0 {
			return nil, nil, false
		}
		q.changed.Wait()
	}
	d := q.ready[0]
	q.ready[0] = nil // let the backing arrays forget what has left them
	q.ready = q.ready[1:]
	d.ready, d.busy = false, true
	j := d.jobs[0]
	d.jobs[0] = nil
	d.jobs = d.jobs[1:]
	q.waiting--
	return j, d, true
}

// work runs jobs until the queue is closed and every job has finished.
func (q *queue) work() {
	for {
		j, d, ok := q.next()
		if !ok {
			return
		}
		wait, retry := q.run(j)
		if !retry {
			q.finished(d)
			continue
		}
		// The job keeps its destination busy while it waits, but not the
		// worker.
		q.exited.Go(func() {
			_ = q.sleep(wait) // cut short by Close: the job's next try sees the context and reports
			q.retry(j, d)
		})
	}
}

// retry puts j back at the head of its destination, to run next.
func (q *queue) retry(j *job, d *dest) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d.jobs = append([]*job{j}, d.jobs...)
	d.busy = false
	q.waiting++
	q.markReady(d)
}

// finished ends the running job of d.
func (q *queue) finished(d *dest) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d.busy = false
	q.live--
	if len(d.jobs) == 0 {
		delete(q.dests, d.key)
	} else {
		q.markReady(d)
	}
	if q.live == 0 {
		q.changed.Broadcast()
		q.idle.Broadcast()
	}
}

// close stops callers' pushes and returns a channel closed once every
// accepted job (and every job it leads to) has finished and the workers
// have exited.
func (q *queue) close() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.changed.Broadcast()
		go func() {
			q.exited.Wait()
			close(q.done)
		}()
	}
	return q.done
}

// waitIdle returns once no job is left (for tests).
func (q *queue) waitIdle() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.live > 0 {
		q.idle.Wait()
	}
}
