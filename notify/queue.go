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
}

// dest is one destination's jobs.
type dest struct {
	key   string
	jobs  []*job
	busy  bool // one of its jobs is running or waiting for a retry
	ready bool // in queue.ready
}

func (q *queue) init(workers, limit int, run func(*job) (time.Duration, bool), sleep func(time.Duration) error) {
	q.workers, q.limit, q.run, q.sleep = workers, limit, run, sleep
	q.changed = sync.NewCond(&q.mu)
	q.idle = sync.NewCond(&q.mu)
	q.dests = make(map[string]*dest)
	q.done = make(chan struct{})
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
	if !expand {
		switch {
		case q.closed:
			return ErrClosed
		case q.waiting+len(jobs) > q.limit:
			return ErrQueueFull
		}
	}
	if !q.started {
		q.started = true
		for range q.workers {
			q.exited.Go(q.work)
		}
	}
	for _, j := range jobs {
		key := j.destination()
		d := q.dests[key]
		if d == nil {
			d = &dest{key: key}
			q.dests[key] = d
		}
		d.jobs = append(d.jobs, j)
		q.waiting++
		q.live++
		q.markReady(d)
	}
	return nil
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
