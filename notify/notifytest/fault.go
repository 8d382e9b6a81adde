package notifytest

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// A Fault is a wrong answer a fake gives instead of its normal one. Queue
// faults with FailNext on a fake; each request takes the next one.
type Fault struct {
	// Status is the HTTP status. Zero means the platform's usual status
	// for Error: 200 for a Slack Web API error, the documented status for
	// a Slack webhook error (404 for no_service, 410 for
	// channel_is_archived, …), 400 for a Teams body.
	Status int
	// Error is the platform error: the Slack Web API error code
	// (answered as {"ok":false,"error":…}), the Slack webhook body (such
	// as "no_service"), or the Teams body text.
	Error string
	// RetryAfter, when positive, is sent as the Retry-After header, in
	// whole seconds (rounded up).
	RetryAfter time.Duration
	// Delay holds the answer back this long, or until the client gives
	// up, whichever comes first: for timeout tests.
	Delay time.Duration
}

// RateLimited is the fault of a platform over its rate limit: HTTP 429
// with a Retry-After header.
func RateLimited(retryAfter time.Duration) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
}

// ServerError is an HTTP 503 with an HTML body, as Slack sends it.
func ServerError() Fault {
	return Fault{Status: http.StatusServiceUnavailable, Error: "<html><body>Service Unavailable</body></html>"}
}

// PlatformError is a platform error code answered with the platform's
// usual status: for Slack's Web API, HTTP 200 with
// {"ok":false,"error":code}; for a Slack webhook, the code as the body.
func PlatformError(code string) Fault {
	return Fault{Error: code}
}

// Hang holds the answer back for d or until the client gives up.
func Hang(d time.Duration) Fault {
	return Fault{Delay: d, Status: http.StatusServiceUnavailable}
}

// faults is a thread-safe queue of faults plus the latency of normal
// answers.
type faults struct {
	mu      sync.Mutex
	queue   []Fault
	latency time.Duration
}

func (f *faults) push(n int, ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.queue = append(f.queue, ft)
	}
}

// next pops the next fault, if any, and returns the latency to apply.
func (f *faults) next() (Fault, bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) == 0 {
		return Fault{}, false, f.latency
	}
	ft := f.queue[0]
	f.queue = f.queue[1:]
	return ft, true, f.latency
}

func (f *faults) reset() {
	f.mu.Lock()
	f.queue = nil
	f.mu.Unlock()
}

func (f *faults) setLatency(d time.Duration) {
	f.mu.Lock()
	f.latency = d
	f.mu.Unlock()
}

// wait sleeps for d or until the request is cancelled, and reports
// whether the client is still there.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		secs := int64((d + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
}

// recorder keeps the requests a fake received, in order. It is safe for
// concurrent use.
type recorder[R any] struct {
	mu       sync.Mutex
	requests []R
}

func (r *recorder[R]) record(req R) {
	r.mu.Lock()
	r.requests = append(r.requests, req)
	r.mu.Unlock()
}

// all returns a copy of the requests recorded so far.
func (r *recorder[R]) all() []R {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// count returns how many recorded requests keep accepts, or all of
// them when keep is nil.
func (r *recorder[R]) count(keep func(R) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if keep == nil {
		return len(r.requests)
	}
	n := 0
	for _, req := range r.requests {
		if keep(req) {
			n++
		}
	}
	return n
}

func (r *recorder[R]) reset() {
	r.mu.Lock()
	r.requests = nil
	r.mu.Unlock()
}

// maxBody bounds what the fakes read of a request.
const maxBody = 1 << 20
