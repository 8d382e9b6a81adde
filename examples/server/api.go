package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
)

// This file holds the host-side endpoints a real host would have in its
// own API: creating approval requests (which notifies the channels),
// reading them, deciding from the host's own UI, reading the audit trail
// and raising drift and agent events.

// approvalIDPattern bounds client-chosen approval IDs: they travel in
// Slack button values and URLs.
var approvalIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// maxExpiry bounds expires_in_seconds (30 days).
const maxExpiry = 30 * 24 * time.Hour

// caller authenticates r, writing 401 or 403 and returning false when it
// may not go on.
func (a *app) caller(w http.ResponseWriter, r *http.Request, admin bool) (user, bool) {
	u, ok := a.auth.identify(r)
	switch {
	case !ok:
		w.Header().Set("WWW-Authenticate", `Bearer realm="chatnotify"`)
		writeError(w, http.StatusUnauthorized, "authentication required")
		return user{}, false
	case admin && !u.Admin:
		writeError(w, http.StatusForbidden, "the admin role is required")
		return user{}, false
	}
	return u, true
}

type createApprovalRequest struct {
	ID               string `json:"id"`
	Title            string `json:"title"`
	Description      string `json:"description"`
	Agent            string `json:"agent"`
	Action           string `json:"action"`
	RiskScore        int    `json:"risk_score"`
	RequestedBy      string `json:"requested_by"`
	ConsoleURL       string `json:"console_url"`
	ExpiresInSeconds int64  `json:"expires_in_seconds"`
}

// createApproval serves POST /v1/approvals: it stores a pending request
// and queues an approval_request notification to the org's channels.
func (a *app) createApproval(w http.ResponseWriter, r *http.Request) {
	u, ok := a.caller(w, r, true)
	if !ok {
		return
	}
	var in createApprovalRequest
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeErr(w, r, err)
		return
	}
	if in.ID != "" && !approvalIDPattern.MatchString(in.ID) {
		writeError(w, http.StatusBadRequest, "id must be 1 to 128 letters, digits, '.', '_', ':' or '-'")
		return
	}
	// Compared in seconds: multiplying first would overflow a Duration
	// for huge values and let them through.
	if in.ExpiresInSeconds < 0 || in.ExpiresInSeconds > int64(maxExpiry/time.Second) {
		writeError(w, http.StatusBadRequest, "expires_in_seconds must be between 0 (never) and 2592000 (30 days)")
		return
	}
	if in.ConsoleURL != "" && !strings.HasPrefix(in.ConsoleURL, "https://") && !strings.HasPrefix(in.ConsoleURL, "http://") {
		writeError(w, http.StatusBadRequest, "console_url must be an http or https URL")
		return
	}
	req := approval.Request{
		ID: in.ID, OrgID: u.OrgID, Title: in.Title, Description: in.Description,
		Agent: in.Agent, Action: in.Action, RiskScore: in.RiskScore,
		RequestedBy: in.RequestedBy, ConsoleURL: in.ConsoleURL,
	}
	if in.ExpiresInSeconds > 0 {
		req.ExpiresAt = time.Now().Add(time.Duration(in.ExpiresInSeconds) * time.Second)
	}
	created, err := a.svc.Create(r.Context(), req)
	if errors.Is(err, approval.ErrConflict) {
		// Creating with a client-chosen ID is idempotent: the same request
		// sent again (a retry) answers 200 with what is stored and notifies
		// no one twice; a different request under that ID is a conflict.
		if old, gerr := a.svc.Get(r.Context(), u.OrgID, in.ID); gerr == nil && sameRequest(old, req) {
			w.Header().Set("Location", a.basePath+"/v1/approvals/"+old.ID)
			writeJSON(w, http.StatusOK, old)
			return
		}
	}
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	// On SQLite and PostgreSQL the store handed the notifications over in
	// Create's own transaction (the durable queue's fan-out job): the 201
	// below means they will be made, even if the process dies now. In
	// memory they are queued here.
	if !a.durable {
		if err := a.dispatcher.Enqueue(u.OrgID, notify.ApprovalRequested{Request: created}); err != nil {
			// The request exists; only its notification could not be
			// queued. Say so rather than pretend it went out.
			a.logger.Error("approval request created but not queued for delivery", "approval_id", created.ID, "err", err)
			w.Header().Set("X-Delivery-Error", "notification not queued: "+err.Error())
		}
	}
	w.Header().Set("Location", a.basePath+"/v1/approvals/"+created.ID)
	writeJSON(w, http.StatusCreated, created)
}

// sameRequest reports whether stored is the request a retry of in would
// create: same organisation and same content (the deadline, relative to
// the time of the call, is not compared).
func sameRequest(stored, in approval.Request) bool {
	return stored.OrgID == in.OrgID && stored.Title == strings.TrimSpace(in.Title) &&
		stored.Description == in.Description && stored.Agent == in.Agent &&
		stored.Action == in.Action && stored.RiskScore == in.RiskScore &&
		stored.RequestedBy == in.RequestedBy && stored.ConsoleURL == in.ConsoleURL
}

// getApproval serves GET /v1/approvals/{id} to any member of the org.
// Every read names the caller's organisation: another organisation's
// request is ErrNotFound, exactly like one that does not exist.
func (a *app) getApproval(w http.ResponseWriter, r *http.Request) {
	u, ok := a.caller(w, r, false)
	if !ok {
		return
	}
	req, err := a.svc.Get(r.Context(), u.OrgID, r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

// decideApproval serves POST /v1/approvals/{id}/decision: the host's own
// UI deciding through the same routine as the chat buttons, for the
// caller's organisation.
func (a *app) decideApproval(w http.ResponseWriter, r *http.Request) {
	u, ok := a.caller(w, r, false)
	if !ok {
		return
	}
	var in struct {
		Decision approval.Decision `json:"decision"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeErr(w, r, err)
		return
	}
	if in.Decision != approval.Approve && in.Decision != approval.Deny {
		writeError(w, http.StatusBadRequest, `decision must be "approve" or "deny"`)
		return
	}
	req, err := a.svc.Review(r.Context(), u.OrgID, r.PathValue("id"), in.Decision, u.reviewer(), approval.SourceAPI)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

// listAudit serves GET /v1/audit?approval_id=…&limit=… to admins.
func (a *app) listAudit(w http.ResponseWriter, r *http.Request) {
	u, ok := a.caller(w, r, true)
	if !ok {
		return
	}
	f := approval.AuditFilter{ApprovalID: r.URL.Query().Get("approval_id")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be between 1 and 1000")
			return
		}
		f.Limit = n
	}
	entries, err := a.store.ListAudit(r.Context(), u.OrgID, f)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

// postEvent serves POST /v1/events: {"type": "drift_alert" |
// "agent_status", …payload}. It queues the event on the dispatcher, which
// delivers it to every enabled channel of the org subscribed to its type
// (with rate limits and retries), and answers 202 {"status":"queued"} at
// once. Each delivery's result goes to the log (notify's "delivered" and
// "delivery failed" lines); a host wanting them elsewhere sets
// notify.DispatcherOptions.OnDelivery. A full queue is 503 with
// Retry-After: nothing is dropped silently.
func (a *app) postEvent(w http.ResponseWriter, r *http.Request) {
	u, ok := a.caller(w, r, true)
	if !ok {
		return
	}
	var raw json.RawMessage
	if err := decodeJSON(w, r, &raw); err != nil {
		a.writeErr(w, r, err)
		return
	}
	ev, err := parseEvent(raw)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	if err := a.dispatcher.Enqueue(u.OrgID, ev); err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
}

// parseEvent decodes an event body: its "type" picks the payload type,
// whose unknown fields are refused like any other body's.
func parseEvent(raw json.RawMessage) (notify.Event, error) {
	var head struct {
		Type notify.EventType `json:"type"`
	}
	bad := func(format string, args ...any) (notify.Event, error) {
		return nil, errorf(http.StatusBadRequest, format, args...)
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field == "type" {
			return bad(`type must be "drift_alert" or "agent_status"`)
		}
		return bad("request body must be a JSON object")
	}
	switch head.Type {
	case notify.EventDriftAlert:
		var ev struct {
			Type notify.EventType `json:"type"`
			notify.DriftAlert
		}
		if err := strictUnmarshal(raw, &ev); err != nil {
			return nil, err
		}
		d := ev.DriftAlert
		switch {
		case strings.TrimSpace(d.Resource) == "":
			return bad("resource is required")
		case d.Severity != notify.SeverityLow && d.Severity != notify.SeverityMedium &&
			d.Severity != notify.SeverityHigh && d.Severity != notify.SeverityCritical:
			return bad("severity must be low, medium, high or critical")
		}
		if d.DetectedAt.IsZero() {
			d.DetectedAt = time.Now().UTC()
		}
		return d, nil
	case notify.EventAgentStatus:
		var ev struct {
			Type notify.EventType `json:"type"`
			notify.AgentStatusChanged
		}
		if err := strictUnmarshal(raw, &ev); err != nil {
			return nil, err
		}
		s := ev.AgentStatusChanged
		switch {
		case strings.TrimSpace(s.Agent) == "":
			return bad("agent is required")
		case s.Status != notify.AgentDeployed && s.Status != notify.AgentStopped && s.Status != notify.AgentErrored:
			return bad("status must be deployed, stopped or errored")
		}
		if s.ChangedAt.IsZero() {
			s.ChangedAt = time.Now().UTC()
		}
		return s, nil
	case notify.EventApprovalRequest:
		return bad("approval requests are raised with POST /v1/approvals")
	}
	return bad(`type must be "drift_alert" or "agent_status"`)
}

func strictUnmarshal(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "malformed event"
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			msg = "unknown field " + f
		} else if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			// Field is a Go path through the embedded payload struct
			// ("AgentStatusChanged.agent"); the client knows only the
			// JSON name, and these payloads have no nested objects.
			f := te.Field
			if i := strings.LastIndexByte(f, '.'); i >= 0 {
				f = f[i+1:]
			}
			msg = "field " + strconv.Quote(f) + " has the wrong type"
		} else if _, ok := errors.AsType[*time.ParseError](err); ok {
			msg = "times must be RFC 3339 strings"
		}
		return errorf(http.StatusBadRequest, "%s", msg)
	}
	return nil
}

// writeErr maps an error of the example's endpoints to a status and a
// client-safe message; anything unexpected is a 500 without details,
// and logged with them.
func (a *app) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	switch he, ok := errors.AsType[*httpError](err); {
	case ok:
		writeError(w, he.status, he.msg)
	case errors.Is(err, approval.ErrNotFound):
		writeError(w, http.StatusNotFound, approval.Message(err))
	case errors.Is(err, approval.ErrConflict):
		writeError(w, http.StatusConflict, "an approval request with this id already exists")
	case errors.Is(err, approval.ErrInvalid):
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "approval: invalid input: "))
	case errors.Is(err, approval.ErrNotPending), errors.Is(err, approval.ErrExpired):
		writeError(w, http.StatusConflict, approval.Message(err))
	case errors.Is(err, approval.ErrNotAllowed):
		writeError(w, http.StatusForbidden, approval.Message(err))
	case errors.Is(err, notify.ErrQueueFull):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the delivery queue is full; try again shortly")
	case errors.Is(err, notify.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "the server is shutting down")
	default:
		a.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}
