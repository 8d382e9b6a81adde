package approval

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/chatnotify/chatnotify/internal/httpjson"
	"github.com/chatnotify/chatnotify/internal/slackmsg"
	"github.com/chatnotify/chatnotify/slackverify"
)

// SlackInteractionsPath is the path the handler of [NewSlackHandler]
// answers.
const SlackInteractionsPath = "/v1/webhooks/slack/interactions"

// defaultSlackMaxBodyBytes is SlackOptions.MaxBodyBytes's default.
const defaultSlackMaxBodyBytes = 1 << 20

// SlackOptions configures the handler of [NewSlackHandler]. OrgID is
// required, and so is Verifier unless AllowUnsigned is set.
type SlackOptions struct {
	// OrgID returns the organisation whose approval requests the clicks
	// of Slack workspace teamID in channel channelID decide: the team.id
	// and channel.id of the click, covered by Slack's signature. A host
	// with one organisation returns it; a multi-tenant host looks up the
	// workspace it installed its app in for that organisation. An error
	// or "" means the click belongs to no organisation: it is not decided
	// and the clicker is told "Approval request not found" (the error is
	// logged, never shown). Required: the button's value is the approval
	// ID alone, as the spec says, and IDs are unique only within an
	// organisation.
	OrgID func(ctx context.Context, teamID, channelID string) (string, error)
	// Verifier checks Slack's signature on every request: the handler
	// wraps itself in [slackverify.Verifier.Middleware], and reviewers of
	// verified requests are recorded as verified. Required unless
	// AllowUnsigned is set.
	Verifier *slackverify.Verifier
	// AllowUnsigned lets [NewSlackHandler] build a handler without a
	// Verifier, for tests and local sandboxes only: anyone who can reach
	// the endpoint can then decide requests, under any name. Reviewers of
	// requests that did not pass a verifier (see [slackverify.Verified])
	// are recorded as unverified. Defaults to false.
	AllowUnsigned bool
	// MaxBodyBytes bounds the request body; a longer one is answered 413.
	// The Verifier's own limit applies before it. Defaults to 1 MiB.
	MaxBodyBytes int64
	// Logger receives refused and failed requests, never a response_url
	// or a token. Defaults to discarding.
	Logger *slog.Logger
}

// slackHandler is the handler NewSlackHandler returns.
type slackHandler struct {
	svc           *Service
	orgID         func(ctx context.Context, teamID, channelID string) (string, error)
	allowUnsigned bool
	maxBody       int64
	log           *slog.Logger
	mux           *http.ServeMux
}

// NewSlackHandler returns the handler of POST
// /v1/webhooks/slack/interactions ([SlackInteractionsPath]), deciding
// Slack's interaction callbacks for the Approve and Deny buttons of
// approval messages through svc. It refuses to build a handler that could
// not be safe: without [SlackOptions.OrgID], or without a Verifier unless
// AllowUnsigned is set. Other paths get 404 and other methods 405; under
// a prefix, wrap the handler in [http.StripPrefix].
//
//	v, err := slackverify.New(secret, nil)
//	h, err := approval.NewSlackHandler(svc, &approval.SlackOptions{
//		Verifier: v,
//		OrgID: func(ctx context.Context, teamID, channelID string) (string, error) {
//			return "acme", nil // one organisation
//		},
//	})
//	mux.Handle(approval.SlackInteractionsPath, h)
//
// # Requests
//
// Slack POSTs a form whose field "payload" is JSON. The handler reads
// block_actions payloads and legacy interactive_message ones (attachment
// actions, identified by their name). The action IDs approve_action and
// platform_approve approve, deny_action and platform_deny deny; the
// approval ID is the button's value, and the organisation is what
// [SlackOptions.OrgID] says for the payload's team.id (else user.team_id)
// and channel.id (else container.channel_id). view_console,
// platform_view_console, any other action, and any other payload type
// (view_submission, …) are acknowledged with an empty 200 and change
// nothing. The reviewer is user.name, else user.username, else user.id,
// with user.id as the reviewer ID. A body that is not a form, a missing
// payload, a payload that is not JSON or has no type, user or actions,
// and an approve or deny without a value are answered 400 {"error": "…"};
// a body over [SlackOptions.MaxBodyBytes] 413.
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
// The handler sends nothing itself. After the decision it hands a
// [FollowUp] with the payload's response_url to [Options.FollowUp]: with
// no Warning (decided or expired) to replace the clicked message with the
// request's result, with a Warning to show it to the clicker only. A
// legacy message's failure needs none (the body carried it), nor does a
// click without a response_url. The [Service] has already handed over
// the Decided FollowUp that updates the request's other copies.
func NewSlackHandler(svc *Service, opts *SlackOptions) (http.Handler, error) {
	if svc == nil {
		return nil, errors.New("approval: NewSlackHandler needs a Service")
	}
	var o SlackOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.OrgID == nil:
		return nil, errors.New("approval: NewSlackHandler needs SlackOptions.OrgID to tell which organisation a click belongs to")
	case o.Verifier == nil && !o.AllowUnsigned:
		return nil, errors.New("approval: NewSlackHandler needs SlackOptions.Verifier (Slack's signing secret); set AllowUnsigned only for tests and sandboxes")
	case o.MaxBodyBytes < 0:
		return nil, errors.New("approval: SlackOptions.MaxBodyBytes is negative")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = defaultSlackMaxBodyBytes
	}
	h := &slackHandler{
		svc:           svc,
		orgID:         o.OrgID,
		allowUnsigned: o.AllowUnsigned,
		maxBody:       o.MaxBodyBytes,
		log:           o.Logger,
		mux:           http.NewServeMux(),
	}
	var interaction http.Handler = http.HandlerFunc(h.interaction)
	if o.Verifier != nil {
		interaction = o.Verifier.Middleware(interaction)
	}
	h.mux.Handle("POST "+SlackInteractionsPath, interaction)
	return h.mux, nil
}

// Errors answered with 400 (or 413); their texts are the {"error": …}
// messages.
const (
	slackErrContentType = "Content-Type must be application/x-www-form-urlencoded"
	slackErrForm        = "request body is not a valid form"
	slackErrRead        = "could not read request body"
	slackErrNoPayload   = "form field payload is missing"
	slackErrJSONSyntax  = "payload is not valid JSON"
	slackErrJSONObject  = "payload is not a JSON object"
	slackErrJSONType    = "payload has a field of the wrong type"
	slackErrNoType      = "payload has no type"
	slackErrNoActions   = "payload has no actions"
	slackErrNoUser      = "payload has no user"
	slackErrNoValue     = "button value (the approval ID) is empty"
)

// slackPayload holds the fields of an interaction payload the handler
// reads; encoding/json skips the rest.
type slackPayload struct {
	Type string `json:"type"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		ChannelID string `json:"channel_id"`
	} `json:"container"`
	User *struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Username string `json:"username"`
		TeamID   string `json:"team_id"`
	} `json:"user"`
	ResponseURL string `json:"response_url"`
	// Actions holds the clicked action: action_id for block_actions,
	// name for legacy attachment actions.
	Actions []struct {
		ActionID string `json:"action_id"`
		Name     string `json:"name"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// slackAnswer is the JSON body of a click's answer.
type slackAnswer struct {
	ResponseType    string `json:"response_type,omitempty"`
	ReplaceOriginal bool   `json:"replace_original"`
	Text            string `json:"text"`
}

func (h *slackHandler) interaction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	verified := slackverify.Verified(ctx)
	if !verified && !h.allowUnsigned {
		// Only reachable when the handler is mounted behind something
		// that bypasses the Verifier it was built with.
		h.log.LogAttrs(ctx, slog.LevelWarn, "slack: unverified request refused",
			slog.String("remote_addr", r.RemoteAddr))
		httpjson.WriteError(w, http.StatusUnauthorized, "Invalid signature")
		return
	}
	if !isFormContentType(r.Header.Get("Content-Type")) {
		h.badRequest(w, r, slackErrContentType)
		return
	}
	p, msg, status := h.decode(w, r)
	if status != 0 {
		if status == http.StatusRequestEntityTooLarge {
			h.log.LogAttrs(ctx, slog.LevelWarn, "slack: request body too large",
				slog.String("remote_addr", r.RemoteAddr))
			httpjson.WriteError(w, status, msg)
			return
		}
		h.badRequest(w, r, msg)
		return
	}

	legacy := false
	switch p.Type {
	case "block_actions":
	case "interactive_message":
		legacy = true
	case "":
		h.badRequest(w, r, slackErrNoType)
		return
	default:
		// view_submission, shortcut, …: not ours, but Slack needs its
		// acknowledgement, and an empty body is the right one for each.
		w.WriteHeader(http.StatusOK)
		return
	}
	if len(p.Actions) == 0 {
		h.badRequest(w, r, slackErrNoActions)
		return
	}
	act := p.Actions[0]
	action := act.ActionID
	if action == "" {
		action = act.Name
	}
	var d Decision
	switch action {
	case slackmsg.ApproveAction, slackmsg.ApproveActionPlatform:
		d = Approve
	case slackmsg.DenyAction, slackmsg.DenyActionPlatform:
		d = Deny
	default:
		// view_console is a URL button; anything else is not ours.
		if h.log.Enabled(ctx, slog.LevelDebug) {
			h.log.LogAttrs(ctx, slog.LevelDebug, "slack: action ignored", slog.String("action", action))
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	id := act.Value
	if id == "" {
		h.badRequest(w, r, slackErrNoValue)
		return
	}
	rv := Reviewer{Verified: verified}
	if p.User != nil {
		rv.ID = p.User.ID
		for _, name := range [...]string{p.User.Name, p.User.Username, p.User.ID} {
			if strings.TrimSpace(name) != "" {
				rv.Name = name
				break
			}
		}
	}
	if rv.Name == "" {
		h.badRequest(w, r, slackErrNoUser)
		return
	}

	req, err := h.review(ctx, p, id, d, rv)
	var answer slackAnswer
	switch {
	case err == nil:
		if h.log.Enabled(ctx, slog.LevelDebug) {
			h.log.LogAttrs(ctx, slog.LevelDebug, "slack: decision recorded",
				slog.String("org_id", req.OrgID), slog.String("approval_id", id), slog.String("action", action),
				slog.String("reviewer_id", rv.ID), slog.String("status", string(req.Status)))
		}
		answer = slackAnswer{ReplaceOriginal: true, Text: slackmsg.ResultLine(string(req.Status), req.ReviewedBy)}
	case errors.Is(err, ErrExpired):
		answer = slackAnswer{ReplaceOriginal: true, Text: slackmsg.ResultLine(string(StatusExpired), "")}
	default:
		answer = slackAnswer{ResponseType: "ephemeral", Text: slackmsg.Warning(Message(err))}
		h.logReviewError(ctx, err, req.OrgID, id, action, rv.ID)
	}
	httpjson.Write(w, http.StatusOK, answer)

	warning := err != nil && !errors.Is(err, ErrExpired)
	if p.ResponseURL == "" || legacy && warning {
		// Nowhere to answer, or the body already carried the warning a
		// legacy message shows.
		return
	}
	f := FollowUp{Request: req, ResponseURL: p.ResponseURL}
	if warning {
		f.Warning = Message(err)
	}
	h.svc.followUp(ctx, f)
}

// decode reads the form and its payload. On failure it returns the
// client-facing message and the status to answer with (400 or 413).
func (h *slackHandler) decode(w http.ResponseWriter, r *http.Request) (p slackPayload, msg string, status int) {
	if r.ContentLength > h.maxBody {
		return p, h.tooLargeText(), http.StatusRequestEntityTooLarge
	}
	body, err := readBody(w, r, h.maxBody)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return p, h.tooLargeText(), http.StatusRequestEntityTooLarge
		}
		return p, slackErrRead, http.StatusBadRequest
	}
	form, err := url.ParseQuery(body)
	if err != nil {
		return p, slackErrForm, http.StatusBadRequest
	}
	payload := strings.TrimSpace(form.Get("payload"))
	if payload == "" {
		return p, slackErrNoPayload, http.StatusBadRequest
	}
	if payload[0] != '{' {
		if json.Valid([]byte(payload)) {
			return p, slackErrJSONObject, http.StatusBadRequest
		}
		return p, slackErrJSONSyntax, http.StatusBadRequest
	}
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return p, slackErrJSONType, http.StatusBadRequest
		}
		return p, slackErrJSONSyntax, http.StatusBadRequest
	}
	return p, "", 0
}

// readBody reads r's body, at most max bytes of it (a longer one is a
// *http.MaxBytesError), in one allocation when its length is declared
// (net/http never delivers more than a declared length).
func readBody(w http.ResponseWriter, r *http.Request, max int64) (string, error) {
	body := http.MaxBytesReader(w, r.Body, max)
	if n := r.ContentLength; n >= 0 && n <= max && n <= 1<<16 {
		b := make([]byte, n)
		_, err := io.ReadFull(body, b)
		return string(b), err
	}
	b, err := io.ReadAll(body)
	return string(b), err
}

func (h *slackHandler) tooLargeText() string {
	return "request body is larger than " + strconv.FormatInt(h.maxBody, 10) + " bytes"
}

// review finds the click's organisation and decides. A click that
// belongs to no organisation is not found.
func (h *slackHandler) review(ctx context.Context, p slackPayload, id string, d Decision, rv Reviewer) (Request, error) {
	team, channel := p.Team.ID, p.Channel.ID
	if team == "" && p.User != nil {
		team = p.User.TeamID
	}
	if channel == "" {
		channel = p.Container.ChannelID
	}
	org, err := h.orgID(ctx, team, channel)
	if err != nil || org == "" {
		attrs := []slog.Attr{slog.String("team_id", team), slog.String("channel_id", channel), slog.String("approval_id", id)}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		h.log.LogAttrs(ctx, slog.LevelWarn, "slack: click belongs to no organisation", attrs...)
		return Request{}, ErrNotFound
	}
	return h.svc.Review(ctx, org, id, d, rv, SourceSlack)
}

func (h *slackHandler) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "slack: malformed interaction",
		slog.String("reason", msg), slog.String("remote_addr", r.RemoteAddr))
	httpjson.WriteError(w, http.StatusBadRequest, msg)
}

// logReviewError logs a decision that failed: processing errors (already
// reviewed, not found, refused) at Info, anything else at Error.
func (h *slackHandler) logReviewError(ctx context.Context, err error, orgID, id, action, reviewerID string) {
	level := slog.LevelError
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotPending) ||
		errors.Is(err, ErrNotAllowed) || errors.Is(err, ErrInvalid) {
		level = slog.LevelInfo
	}
	h.log.LogAttrs(ctx, level, "slack: decision not recorded",
		slog.String("org_id", orgID), slog.String("approval_id", id), slog.String("action", action),
		slog.String("reviewer_id", reviewerID), slog.String("err", err.Error()))
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
