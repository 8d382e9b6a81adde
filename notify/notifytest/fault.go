package notifytest

import (
	"net/http"
	"strconv"
	"time"
)

// A Fault is a wrong answer the [Server] gives instead of its normal
// one; queue faults with [Server.FailNext]. The zero Fault is a 503.
type Fault struct {
	// Method limits the fault to requests of one method of
	// [Request.Method] ("chat.update", "response_url", "workflows", …).
	// Empty means any request.
	Method string
	// Status is the HTTP status. Zero means the platform's usual status
	// for Error: 200 for a Slack Web API error (answered as
	// {"ok":false,"error":Error}), the status Slack documents for a
	// webhook error body (404 for no_service, 410 for
	// channel_is_archived, …, 400 for others), 400 for a response_url or
	// Teams error. With Error empty too, it is 503.
	Status int
	// Error is the platform error: a Slack error code, or the body of a
	// Teams answer. A 5xx without one has an HTML body, as Slack's load
	// balancers send.
	Error string
	// RetryAfter, when positive, is sent as the Retry-After header: in
	// whole seconds (rounded up), or, with RetryAfterDate, as the HTTP
	// date that far ahead.
	RetryAfter     time.Duration
	RetryAfterDate bool
	// Delay holds the answer back this long, or until the client gives
	// up, whichever comes first: Fault{Delay: time.Hour} is a hang.
	Delay time.Duration
}

// RateLimited is a platform over its rate limit: HTTP 429 with a
// Retry-After header.
func RateLimited(retryAfter time.Duration) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
}

// PlatformError is a platform error code answered with the platform's
// usual status: for Slack's Web API, HTTP 200 with
// {"ok":false,"error":code}; for a Slack webhook, the code as the body
// with its documented status; for Teams, a 400 with code as the body.
func PlatformError(code string) Fault {
	return Fault{Error: code}
}

// TeamsThrottled is how Teams' legacy connectors answered a webhook over
// its rate limit: HTTP 200, with "HTTP error 429" in the body.
func TeamsThrottled() Fault {
	return Fault{Status: http.StatusOK, Error: "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef"}
}

// status returns the status f answers with, given the platform's usual
// status for an error code.
func (f Fault) status(usual func(code string) int) int {
	switch {
	case f.Status != 0:
		return f.Status
	case f.Error == "":
		return http.StatusServiceUnavailable
	}
	return usual(f.Error)
}

// body returns the text f answers with at status.
func (f Fault) body(status int) string {
	if f.Error == "" && status >= 500 {
		return "<html><body><h1>" + strconv.Itoa(status) + " " + http.StatusText(status) + "</h1></body></html>"
	}
	return f.Error
}

// setRetryAfter sets f's Retry-After header, if it has one.
func (f Fault) setRetryAfter(w http.ResponseWriter) {
	if f.RetryAfter <= 0 {
		return
	}
	if f.RetryAfterDate {
		// HTTP dates have whole seconds: round up so the wait is never
		// shorter than asked.
		at := time.Now().Add(f.RetryAfter + time.Second - 1).UTC()
		w.Header().Set("Retry-After", at.Format(http.TimeFormat))
		return
	}
	secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
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
