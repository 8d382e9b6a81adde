package notify

import (
	"sync"
	"testing"
	"time"
)

// holdQueue is a queue whose releaser sleeps only when the test says so,
// on a clock the test moves, and whose run records the jobs it gets.
type holdQueue struct {
	q       queue
	steps   chan time.Duration // the releaser is asleep for this long
	proceed chan struct{}      // wake it up
	mu      sync.Mutex
	now     time.Time
	ran     []*job
	runs    chan struct{}
}

func newHoldQueue(t *testing.T, maxHold time.Duration) *holdQueue {
	h := &holdQueue{steps: make(chan time.Duration), proceed: make(chan struct{}), now: time.Unix(1e9, 0), runs: make(chan struct{}, 100)}
	h.q.init(2, 100, maxHold, func(j *job) (time.Duration, bool) {
		h.mu.Lock()
		h.ran = append(h.ran, j)
		h.mu.Unlock()
		h.runs <- struct{}{}
		return 0, false
	}, func(time.Duration) error { return nil })
	h.q.holdSleep = func(d time.Duration) { h.steps <- d; <-h.proceed }
	h.q.holdNow = func() time.Time { h.mu.Lock(); defer h.mu.Unlock(); return h.now }
	t.Cleanup(func() {
		done := h.q.close()
		go func() {
			for {
				select {
				case <-h.steps:
					h.proceed <- struct{}{}
				case <-done:
					return
				}
			}
		}()
		<-done
	})
	return h
}

func (h *holdQueue) advance(d time.Duration) { h.mu.Lock(); h.now = h.now.Add(d); h.mu.Unlock() }

func (h *holdQueue) ranCount() int { h.mu.Lock(); defer h.mu.Unlock(); return len(h.ran) }

func (h *holdQueue) waitRuns(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-h.runs:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d jobs ran", h.ranCount(), n)
		}
	}
}

func replaceJob(url string) *job {
	return &job{kind: jobReplace, orgID: "org-1", responseURL: url}
}

func TestHoldWaitsForClicksToPause(t *testing.T) {
	h := newHoldQueue(t, time.Second)
	if err := h.q.hold(replaceJob("https://hooks.slack.com/actions/1")); err != nil {
		t.Fatal(err)
	}
	if d := <-h.steps; d != holdPoll {
		t.Fatalf("first look after %s, want %s", d, holdPoll)
	}
	// Another click while the releaser sleeps: it keeps holding.
	if err := h.q.hold(replaceJob("https://hooks.slack.com/actions/2")); err != nil {
		t.Fatal(err)
	}
	h.proceed <- struct{}{}
	if d := <-h.steps; d != 2*holdPoll {
		t.Fatalf("second look after %s, want %s (doubling)", d, 2*holdPoll)
	}
	if n := h.ranCount(); n != 0 {
		t.Fatalf("%d jobs ran while clicks kept coming", n)
	}
	// No click since the last look: both are queued and run.
	h.proceed <- struct{}{}
	h.waitRuns(t, 2)
}

func TestHoldIsBoundedByMaxHold(t *testing.T) {
	h := newHoldQueue(t, time.Second)
	if err := h.q.hold(replaceJob("https://hooks.slack.com/actions/1")); err != nil {
		t.Fatal(err)
	}
	<-h.steps
	// Clicks keep coming, but the first job has waited its maximum.
	h.advance(time.Second)
	if err := h.q.hold(replaceJob("https://hooks.slack.com/actions/2")); err != nil {
		t.Fatal(err)
	}
	h.proceed <- struct{}{}
	h.waitRuns(t, 2)
}

func TestHoldCountsAgainstTheLimitAndCloseReleases(t *testing.T) {
	h := newHoldQueue(t, time.Hour)
	jobs := make([]*job, 100)
	for i := range jobs {
		jobs[i] = replaceJob("https://hooks.slack.com/actions/" + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if err := h.q.hold(jobs...); err != nil {
		t.Fatal(err)
	}
	if err := h.q.hold(replaceJob("https://hooks.slack.com/actions/x")); err != ErrQueueFull {
		t.Fatalf("hold beyond the limit = %v, want ErrQueueFull", err)
	}
	<-h.steps
	h.q.close()
	h.proceed <- struct{}{} // the releaser sees the close and queues everything
	h.waitRuns(t, 100)
}

func TestNoHoldWithANegativeMaximum(t *testing.T) {
	h := newHoldQueue(t, -1)
	if err := h.q.hold(replaceJob("https://hooks.slack.com/actions/1")); err != nil {
		t.Fatal(err)
	}
	h.waitRuns(t, 1) // no releaser step was needed
}
