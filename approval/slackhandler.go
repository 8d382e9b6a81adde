package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatnotify/chatnotify/internal/httpjson"
	"github.com/chatnotify/chatnotify/internal/webhookurl"
	"github.com/chatnotify/chatnotify/slackverify"
)

// SlackInteractionsPath is the path the [SlackHandler] answers.
const SlackInteractionsPath = "/v1/webhooks/slack/interactions"

// The Slack action IDs of approval buttons, per the spec. Both spellings
// of each are accepted; the console buttons are URL buttons, whose clicks
// Slack reports too and which need nothing but the acknowledgement.
const (
	SlackApproveAction         = "approve_action"
	SlackApproveActionPlatform = "platform_approve"
	SlackDenyAction            = "deny_action"
	SlackDenyActionPlatform    = "platform_deny"
	SlackConsoleAction         = "view_console"
	SlackConsoleActionPlatform = "platform_view_console"
)

// Defaults of [SlackOptions].
const (
	DefaultSlackMaxBodyBytes   = 1 << 20
	DefaultSlackReplaceTimeout = 10 * time.Second
	DefaultSlackSendWorkers    = 8
	DefaultSlackSendQueue      = 65536
	DefaultSlackMaxDeferral    = 10 * time.Second
)

// slackResponseHosts are the only hosts a response_url may point at.
var slackResponseHosts = []string{"hooks.slack.com"}

const (
	// A deferred send checks whether the handler has become quiet (no
	// click arrived since the last look) after slackQuietPoll, then at
	// doubling intervals up to slackMaxQuietPoll.
	slackQuietPoll    = 2 * time.Millisecond
	slackMaxQuietPoll = 32 * time.Millisecond
	// slackMaxRetryAfter caps how long a send waits for a 429's
	// Retry-After before its single retry.
	slackMaxRetryAfter = 5 * time.Second
	// slackMaxScratch is the largest buffer kept for reuse.
	slackMaxScratch = 64 << 10
)

// SlackOptions configures a [SlackHandler]. The zero value, and a nil
// *SlackOptions, mean defaults.
type SlackOptions struct {
	// Logger receives refused and failed requests and sends, never a
	// response_url or a token. Defaults to discarding.
	Logger *slog.Logger
	// MaxBodyBytes bounds the request body when the handler reads it
	// itself (behind slackverify's middleware the middleware bounds it).
	// Defaults to 1 MiB.
	MaxBodyBytes int64
	// HTTPClient sends the replacement messages to response_urls. Defaults
	// to a client that follows no redirects and keeps SendWorkers idle
	// connections per host; a client of your own should do the same.
	HTTPClient *http.Client
	// AllowLoopbackResponseURLs also accepts http and https response_urls
	// on loopback addresses, for tests and local sandboxes only. By
	// default only https://hooks.slack.com/ is accepted; any other
	// response_url is logged and skipped (the decision still stands).
	AllowLoopbackResponseURLs bool
	// ReplaceTimeout bounds each POST to a response_url. Defaults to 10 s.
	ReplaceTimeout time.Duration
	// SendWorkers is the most response_url POSTs in flight at once.
	// Defaults to 8.
	SendWorkers int
	// SendQueue is the most replacement messages waiting to be sent; a
	// click that finds the queue full is still decided and acknowledged,
	// and the lost replacement is logged at Error with the approval ID.
	// Defaults to 65536 (at most a few tens of MB; at Slack's usual
	// latency, about what 8 workers send within the 30 minutes a
	// response_url lives).
	SendQueue int
	// MaxDeferral is how long a replacement may wait for a quiet moment.
	// Sends run at background priority: a send waits while clicks keep
	// arriving (it looks again after 2 ms, then at doubling intervals up
	// to 32 ms, and goes as soon as no click arrived in between), so that
	// under a burst the CPU goes to acknowledging clicks within Slack's
	// 3 seconds rather than to message updates, which Slack accepts for
	// 30 minutes. After MaxDeferral it is sent anyway. With clicks spaced
	// more than a few milliseconds apart, as in normal use, sends go out
	// at once. Defaults to 10 s; a negative value never defers.
	MaxDeferral time.Duration
	// Verified reports whether r's Slack signature was verified, which
	// marks the reviewer as verified ([Reviewer.Verified]) in the request
	// and the audit trail. Defaults to reporting whether r passed through
	// [slackverify.Verifier.Middleware] (detected with [slackverify.Body]).
	Verified func(r *http.Request) bool
}

// SlackHandler serves POST /v1/webhooks/slack/interactions: Slack's
// interaction callbacks for the Approve and Deny buttons of approval
// messages. Mount it behind [slackverify.Verifier.Middleware]:
//
//	v, err := slackverify.New(secret, nil)
//	h, err := approval.NewSlackHandler(svc, nil)
//	mux.Handle(approval.SlackInteractionsPath, v.Middleware(h))
//
// # Requests
//
// Slack POSTs a form whose field "payload" is JSON. The handler reads
// block_actions payloads and legacy interactive_message ones (attachment
// actions, identified by their name). The action IDs approve_action and
// platform_approve approve, deny_action and platform_deny deny; the
// approval ID is the button's value. view_console, platform_view_console,
// any other action, and any other payload type (view_submission, …) are
// acknowledged with an empty 200 and change nothing. The reviewer is
// user.name, else user.username, else user.id, with user.id as the
// reviewer ID. A body that is not a form, a missing payload, a payload that
// is not JSON or has no type, user or actions, and an approve or deny
// without a value are answered 400 {"error": "…"}.
//
// # Responses
//
// Every decision goes through [Service.Review] with [SourceSlack]. The
// handler answers 200 at once, with the result in the body, which Slack
// uses for legacy interactive messages (it ignores the body of
// block_actions): {"replace_original":true,"text":":white_check_mark:
// *APPROVED* by amy"}, ":x: *DENIED* by amy", or for an expired request
// ":warning: Approval request has expired". Other failures (already
// approved or denied, not found, not allowed) are answered with an
// ephemeral ":warning: …" message shown only to the clicker, so that the
// original message is not wiped for everyone.
//
// Then, in the background, it posts to the payload's response_url: the
// [SlackResultMessage] of the request, replacing the original message
// (also for expiry), or the ephemeral warning. Only
// https://hooks.slack.com/ response_urls are used unless
// [SlackOptions.AllowLoopbackResponseURLs] is set. Sends are bounded
// ([SlackOptions.SendWorkers], [SlackOptions.SendQueue]), retried once on
// 429 or 5xx (a replacement also after a network error), run at background
// priority ([SlackOptions.MaxDeferral]) and
// are drained by [SlackHandler.Close].
type SlackHandler struct {
	svc      *Service
	log      *slog.Logger
	maxBody  int64
	verified func(*http.Request) bool
	mux      *http.ServeMux
	scratch  sync.Pool // of *slackScratch
	snd      slackSender
}

// slackScratch holds the buffers one request needs.
type slackScratch struct {
	body    []byte
	payload []byte
	out     []byte
}

// NewSlackHandler returns a handler deciding clicks through svc. opts may
// be nil. It starts no goroutines: background sends run only while there
// is something to send. Call [SlackHandler.Close] at shutdown.
func NewSlackHandler(svc *Service, opts *SlackOptions) (*SlackHandler, error) {
	if svc == nil {
		return nil, errors.New("approval: NewSlackHandler needs a Service")
	}
	var o SlackOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxBodyBytes < 0:
		return nil, errors.New("approval: SlackOptions.MaxBodyBytes is negative")
	case o.ReplaceTimeout < 0:
		return nil, errors.New("approval: SlackOptions.ReplaceTimeout is negative")
	case o.SendWorkers < 0:
		return nil, errors.New("approval: SlackOptions.SendWorkers is negative")
	case o.SendQueue < 0:
		return nil, errors.New("approval: SlackOptions.SendQueue is negative")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultSlackMaxBodyBytes
	}
	if o.ReplaceTimeout == 0 {
		o.ReplaceTimeout = DefaultSlackReplaceTimeout
	}
	if o.SendWorkers == 0 {
		o.SendWorkers = DefaultSlackSendWorkers
	}
	if o.SendQueue == 0 {
		o.SendQueue = DefaultSlackSendQueue
	}
	if o.MaxDeferral == 0 {
		o.MaxDeferral = DefaultSlackMaxDeferral
	}
	if o.Verified == nil {
		o.Verified = func(r *http.Request) bool {
			_, ok := slackverify.Body(r)
			return ok
		}
	}
	if o.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.SendWorkers
		tr.MaxIdleConns = max(tr.MaxIdleConns, o.SendWorkers)
		o.HTTPClient = &http.Client{
			Transport: tr,
			Timeout:   o.ReplaceTimeout,
			// A response_url is checked before the send; a redirect must
			// not lead anywhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	h := &SlackHandler{
		svc:      svc,
		log:      o.Logger,
		maxBody:  o.MaxBodyBytes,
		verified: o.Verified,
		mux:      http.NewServeMux(),
	}
	h.scratch.New = func() any { return &slackScratch{} }
	ctx, cancel := context.WithCancel(context.Background())
	h.snd = slackSender{
		client:        o.HTTPClient,
		log:           o.Logger,
		allowLoopback: o.AllowLoopbackResponseURLs,
		timeout:       o.ReplaceTimeout,
		workers:       o.SendWorkers,
		queueMax:      o.SendQueue,
		maxDeferral:   o.MaxDeferral,
		ctx:           ctx,
		cancel:        cancel,
		drain:         make(chan struct{}),
	}
	h.mux.HandleFunc("POST "+SlackInteractionsPath, h.interaction)
	return h, nil
}

// ServeHTTP answers POST /v1/webhooks/slack/interactions; other paths get
// 404 and other methods 405.
func (h *SlackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// Close stops accepting background sends and waits for those queued or in
// flight to finish. When ctx ends first it abandons them (each is logged
// at Error with its approval ID) and returns ctx.Err(). Clicks that arrive
// after Close are still decided and acknowledged, without a replacement
// through the response_url. Close may be called more than once.
func (h *SlackHandler) Close(ctx context.Context) error {
	return h.snd.close(ctx)
}

// Errors answered with 400; their texts are the {"error": …} messages.
const (
	slackErrContentType = "Content-Type must be application/x-www-form-urlencoded"
	slackErrNoPayload   = "form field payload is missing"
	slackErrNoType      = "payload has no type"
	slackErrNoActions   = "payload has no actions"
	slackErrNoUser      = "payload has no user"
	slackErrNoValue     = "button value (the approval ID) is empty"
)

func (h *SlackHandler) interaction(w http.ResponseWriter, r *http.Request) {
	h.snd.activity.Add(1)
	sc := h.scratch.Get().(*slackScratch)
	defer h.putScratch(sc)

	if !isFormContentType(r.Header.Get("Content-Type")) {
		h.badRequest(w, r, slackErrContentType)
		return
	}
	body, ok := h.readBody(w, r, sc)
	if !ok {
		return
	}
	payload, found, err := formValue(sc.payload[:0], body, "payload")
	sc.payload = payload
	switch {
	case err != nil:
		h.badRequest(w, r, err.Error())
		return
	case !found || len(bytes.TrimSpace(payload)) == 0:
		h.badRequest(w, r, slackErrNoPayload)
		return
	}
	var p slackPayload
	if err := parseSlackPayload(payload, &p); err != nil {
		h.badRequest(w, r, err.Error())
		return
	}
	legacy := false
	switch {
	case p.typ.is("block_actions"):
	case p.typ.is("interactive_message"):
		legacy = true
	case p.typ.empty():
		h.badRequest(w, r, slackErrNoType)
		return
	default:
		// view_submission, shortcut, …: not ours, but Slack needs its
		// acknowledgement, and an empty body is the right one for each.
		w.WriteHeader(http.StatusOK)
		return
	}
	if p.actions == 0 {
		h.badRequest(w, r, slackErrNoActions)
		return
	}
	var d Decision
	var action string
	switch act := p.action.id(); {
	case act.is(SlackApproveAction):
		d, action = Approve, SlackApproveAction
	case act.is(SlackApproveActionPlatform):
		d, action = Approve, SlackApproveActionPlatform
	case act.is(SlackDenyAction):
		d, action = Deny, SlackDenyAction
	case act.is(SlackDenyActionPlatform):
		d, action = Deny, SlackDenyActionPlatform
	default:
		// view_console is a URL button; anything else is not ours.
		if h.log.Enabled(r.Context(), slog.LevelDebug) {
			h.log.LogAttrs(r.Context(), slog.LevelDebug, "slack: action ignored",
				slog.String("action", act.String()), slog.String("reviewer_id", p.userID.String()))
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if p.action.value.empty() {
		h.badRequest(w, r, slackErrNoValue)
		return
	}
	id := p.action.value.String()
	rv := Reviewer{ID: p.userID.String(), Verified: h.verified(r)}
	for _, name := range [...]jsonStr{p.userName, p.userUsername, p.userID} {
		if !isBlank(name.raw) {
			rv.Name = name.String()
			break
		}
	}
	if rv.Name == "" {
		h.badRequest(w, r, slackErrNoUser)
		return
	}

	ctx := r.Context()
	req, err := h.svc.Review(ctx, id, d, rv, SourceSlack)
	out := sc.out[:0]
	job := slackJob{approvalID: id, action: action, reviewerID: rv.ID}
	if !legacy || err == nil || errors.Is(err, ErrExpired) {
		// A legacy message shows an ephemeral answer from the body.
		job.url = p.responseURL.String()
	}
	switch {
	case err == nil:
		if h.log.Enabled(ctx, slog.LevelDebug) {
			h.log.LogAttrs(ctx, slog.LevelDebug, "slack: decision recorded",
				slog.String("approval_id", id), slog.String("action", action),
				slog.String("reviewer_id", rv.ID), slog.String("status", string(req.Status)))
		}
		out = append(out, `{"replace_original":true,"text":"`...)
		out = appendSlackResultLine(out, req.Status, req.ReviewedBy, true)
		out = append(out, `"}`...)
		job.req = req
	case errors.Is(err, ErrExpired):
		out = append(out, `{"replace_original":true,"text":":warning: `...)
		out = appendJSONStringBody(out, Message(err))
		out = append(out, `"}`...)
		if req.ID == "" {
			req.ID, req.Status = id, StatusExpired
		}
		job.req = req
	default:
		msg := Message(err)
		out = appendSlackEphemeral(out, msg)
		job.ephemeral = msg
		h.logReviewError(ctx, err, job)
	}
	sc.out = out
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)

	if job.url != "" {
		h.snd.enqueue(ctx, job)
	}
}

// isBlank reports whether b holds only ASCII space (or nothing).
func isBlank(b []byte) bool {
	return len(bytes.TrimSpace(b)) == 0
}

// readBody returns the request body, taken from slackverify's middleware
// when it verified the request, and otherwise read into sc.body. On
// failure it has answered the request.
func (h *SlackHandler) readBody(w http.ResponseWriter, r *http.Request, sc *slackScratch) (body []byte, ok bool) {
	if b, ok := slackverify.Body(r); ok {
		return b, true
	}
	if r.ContentLength > h.maxBody {
		h.tooLarge(w, r)
		return nil, false
	}
	buf := sc.body[:0]
	if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength {
		buf = make([]byte, 0, r.ContentLength)
	}
	lr := io.LimitedReader{R: r.Body, N: h.maxBody + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			sc.body = buf
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "slack: could not read request body",
				slog.String("err", err.Error()))
			httpjson.WriteError(w, http.StatusBadRequest, "could not read request body")
			return nil, false
		}
	}
	sc.body = buf
	if int64(len(buf)) > h.maxBody {
		h.tooLarge(w, r)
		return nil, false
	}
	return buf, true
}

func (h *SlackHandler) putScratch(sc *slackScratch) {
	if cap(sc.body) > slackMaxScratch || cap(sc.payload) > slackMaxScratch || cap(sc.out) > slackMaxScratch {
		return
	}
	h.scratch.Put(sc)
}

func (h *SlackHandler) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "slack: malformed interaction",
		slog.String("reason", msg), slog.String("remote_addr", r.RemoteAddr))
	httpjson.WriteError(w, http.StatusBadRequest, msg)
}

func (h *SlackHandler) tooLarge(w http.ResponseWriter, r *http.Request) {
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "slack: request body too large",
		slog.String("remote_addr", r.RemoteAddr))
	httpjson.WriteError(w, http.StatusRequestEntityTooLarge,
		"request body is larger than "+strconv.FormatInt(h.maxBody, 10)+" bytes")
}

// logReviewError logs a decision that failed: processing errors (already
// reviewed, not found, refused) at Info, anything else at Error.
func (h *SlackHandler) logReviewError(ctx context.Context, err error, job slackJob) {
	level := slog.LevelError
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotPending) ||
		errors.Is(err, ErrNotAllowed) || errors.Is(err, ErrSelfApproval) || errors.Is(err, ErrInvalid) {
		level = slog.LevelInfo
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	h.log.LogAttrs(ctx, level, "slack: decision not recorded",
		slog.String("approval_id", job.approvalID), slog.String("action", job.action),
		slog.String("reviewer_id", job.reviewerID), slog.String("err", err.Error()))
}

// isFormContentType reports whether ct is application/x-www-form-urlencoded,
// with or without parameters.
func isFormContentType(ct string) bool {
	const form = "application/x-www-form-urlencoded"
	if ct == form {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == form
}

// slackJob is one background POST to a response_url: the replacement
// message of req, or, when ephemeral is set, that warning shown to the
// clicker only.
type slackJob struct {
	url        string
	req        Request
	ephemeral  string
	approvalID string
	action     string
	reviewerID string
	queued     time.Time
}

// slackSender runs the handler's background sends: a FIFO queue served by
// at most workers goroutines, started when there is work and ending when
// the queue is empty.
type slackSender struct {
	client        *http.Client
	log           *slog.Logger
	allowLoopback bool
	timeout       time.Duration
	workers       int
	queueMax      int
	maxDeferral   time.Duration
	ctx           context.Context // cancelled when Close gives up
	cancel        context.CancelFunc

	// activity counts interaction requests; sends wait for it to stay
	// still for a moment (see SlackOptions.MaxDeferral).
	activity atomic.Uint64

	mu      sync.Mutex
	queue   slackQueue
	running int
	closed  bool
	drain   chan struct{} // closed by close: stop deferring
	wg      sync.WaitGroup
}

func (s *slackSender) enqueue(ctx context.Context, job slackJob) {
	if s.maxDeferral > 0 {
		job.queued = time.Now()
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		s.dropped(ctx, job, "handler is closed")
		return
	case s.queue.n >= s.queueMax:
		s.mu.Unlock()
		s.dropped(ctx, job, "send queue is full")
		return
	}
	s.queue.push(&job)
	if s.running < s.workers {
		s.running++
		s.wg.Add(1)
		go s.work()
	}
	s.mu.Unlock()
}

// dropped logs a replacement that will not be sent. The decision itself
// has been recorded.
func (s *slackSender) dropped(ctx context.Context, job slackJob, reason string) {
	s.log.LogAttrs(ctx, slog.LevelError, "slack: message not replaced",
		slog.String("reason", reason), slog.String("approval_id", job.approvalID),
		slog.String("action", job.action), slog.String("reviewer_id", job.reviewerID))
}

// next pops the oldest job, or reports that the queue is empty, in which
// case the calling worker must end.
func (s *slackSender) next() (slackJob, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queue.n == 0 {
		s.running--
		return slackJob{}, false
	}
	return s.queue.pop(), true
}

// slackQueue is a FIFO of jobs in fixed-size chunks, so that a long
// backlog never copies the jobs already queued.
type slackQueue struct {
	head, tail *slackChunk
	n          int
	spare      *slackChunk // one emptied chunk kept for reuse
}

const slackChunkSize = 128

type slackChunk struct {
	jobs [slackChunkSize]slackJob
	r, w int
	next *slackChunk
}

func (q *slackQueue) push(job *slackJob) {
	if q.tail == nil || q.tail.w == slackChunkSize {
		c := q.spare
		if c != nil {
			q.spare = nil
		} else {
			c = new(slackChunk)
		}
		if q.tail == nil {
			q.head = c
		} else {
			q.tail.next = c
		}
		q.tail = c
	}
	q.tail.jobs[q.tail.w] = *job
	q.tail.w++
	q.n++
}

// pop removes the oldest job; the queue must not be empty.
func (q *slackQueue) pop() slackJob {
	c := q.head
	job := c.jobs[c.r]
	c.jobs[c.r] = slackJob{}
	c.r++
	q.n--
	if c.r == c.w && (c.w == slackChunkSize || q.n == 0) {
		q.head = c.next
		if q.head == nil {
			q.tail = nil
		}
		c.r, c.w, c.next = 0, 0, nil
		q.spare = c
	}
	return job
}

func (s *slackSender) work() {
	defer s.wg.Done()
	seen := s.activity.Load()
	var timer *time.Timer
	for {
		job, ok := s.next()
		if !ok {
			return
		}
		if s.ctx.Err() != nil {
			s.dropped(s.ctx, job, "handler closed before it was sent")
			continue
		}
		seen = s.waitQuiet(job, seen, &timer)
		s.send(job)
	}
}

// waitQuiet returns when no click has arrived for slackQuietPoll (seen
// is the activity count last observed), when job has waited
// maxDeferral, or when the sender is closing.
func (s *slackSender) waitQuiet(job slackJob, seen uint64, timer **time.Timer) uint64 {
	if s.maxDeferral < 0 {
		return seen
	}
	deadline := job.queued.Add(s.maxDeferral)
	poll := slackQuietPoll
	for {
		now := s.activity.Load()
		if now == seen || !time.Now().Before(deadline) {
			return now
		}
		seen = now
		if *timer == nil {
			*timer = time.NewTimer(poll)
		} else {
			(*timer).Reset(poll)
		}
		poll = min(poll*2, slackMaxQuietPoll)
		select {
		case <-(*timer).C:
		case <-s.drain:
			return seen
		case <-s.ctx.Done():
			return seen
		}
	}
}

// send POSTs job to its response_url, retrying once on 429 or 5xx, and
// on a network error too for a replacement (replacing twice is harmless;
// an ephemeral warning could show twice, so it is not retried then).
func (s *slackSender) send(job slackJob) {
	ctx := s.ctx
	if err := webhookurl.Check(job.url, slackResponseHosts, s.allowLoopback); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "slack: response_url not allowed; message not replaced",
			slog.String("reason", err.Error()), slog.String("approval_id", job.approvalID),
			slog.String("action", job.action), slog.String("reviewer_id", job.reviewerID))
		return
	}
	var body []byte
	if job.ephemeral != "" {
		body = appendSlackEphemeral(make([]byte, 0, 128), job.ephemeral)
	} else {
		body = appendSlackReplacement(make([]byte, 0, 1024), job.req)
	}
	for attempt := 0; ; attempt++ {
		status, retryAfter, err := s.post(ctx, job.url, body)
		if err == nil {
			return
		}
		retryable := status == http.StatusTooManyRequests || status >= 500 || status == 0 && job.ephemeral == ""
		if attempt == 0 && retryable && ctx.Err() == nil {
			t := time.NewTimer(retryAfter)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() != nil {
			s.dropped(ctx, job, "handler closed before it was sent")
			return
		}
		attrs := []slog.Attr{
			slog.String("err", err.Error()), slog.String("approval_id", job.approvalID),
			slog.String("action", job.action), slog.String("reviewer_id", job.reviewerID),
		}
		if status > 0 {
			attrs = append(attrs, slog.Int("status", status))
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "slack: message not replaced", attrs...)
		return
	}
}

// errSlackRefused is returned by post for a 2xx answer whose JSON says
// "ok": false.
var errSlackRefused = errors.New("slack: response_url refused the message")

// post sends one request. It returns the HTTP status (0 when there was no
// answer), the wait before a retry, and an error that never holds the URL.
func (s *slackSender) post(ctx context.Context, u string, body []byte) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return -1, 0, errors.New("slack: could not build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, time.Second, sanitizeURLError(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode/100 == 2:
		var r struct {
			OK    *bool  `json:"ok"`
			Error string `json:"error"`
		}
		if bytes.HasPrefix(bytes.TrimSpace(answer), []byte("{")) &&
			json.Unmarshal(answer, &r) == nil && r.OK != nil && !*r.OK {
			return resp.StatusCode, 0, errors.New(errSlackRefused.Error() + ": " + safeCode(r.Error))
		}
		return resp.StatusCode, 0, nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")), errors.New("slack: rate limited")
	}
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")), errors.New("slack: response_url answered " + resp.Status + ": " + safeCode(string(answer)))
}

// retryAfter parses a Retry-After header (of a 429 or a 5xx) in seconds,
// capped at slackMaxRetryAfter; absent or malformed means one second.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return time.Second
	}
	return min(time.Duration(n)*time.Second, slackMaxRetryAfter)
}

// safeCode returns s when it looks like a Slack error code (a short word
// such as "expired_url"), so that logs never carry an arbitrary body.
func safeCode(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return "(unreadable answer)"
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return "(unreadable answer)"
		}
	}
	return s
}

// sanitizeURLError strips the URL from a client error: a response_url is
// a credential.
func sanitizeURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("slack: response_url timed out")
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("slack: send cancelled")
	}
	return errors.New("slack: response_url unreachable: " + err.Error())
}

func (s *slackSender) close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.drain)
	}
	running := s.running
	s.mu.Unlock()
	if running == 0 {
		s.cancel()
		return nil
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		return ctx.Err()
	}
}
