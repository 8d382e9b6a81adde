package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chatnotify/chatnotify/internal/httpjson"
	"github.com/chatnotify/chatnotify/teams"
)

// TeamsInteractionsPath is the path the handler of [NewTeamsHandler]
// answers, for JSON callbacks and for the Approve and Deny links of
// webhook-delivered cards alike. A link is the host's public URL (with any prefix the handler is
// mounted under), this path, and "?token=" with the URL-escaped action
// token of [Signer.Sign].
const TeamsInteractionsPath = "/v1/webhooks/teams/interactions"

const (
	// defaultTeamsMaxBodyBytes bounds a callback or form body.
	defaultTeamsMaxBodyBytes = 64 << 10
	// maxTeamsReviewerName is the most characters kept of a reviewer
	// name typed on the confirmation page or taken from a callback.
	maxTeamsReviewerName = 100
	// teamsTokenParam is the query parameter, and form field, that
	// carries an action token.
	teamsTokenParam = "token"
	// teamsTimeLayout is how pages write times: in UTC, to the minute.
	teamsTimeLayout = "2006-01-02 15:04 MST"
	// teamsInvokeName is the name of the invoke activity of an
	// Action.Execute click.
	teamsInvokeName = "adaptiveCard/action"
)

// TeamsOptions configures the handler of [NewTeamsHandler]. The zero
// value, and a nil *TeamsOptions, accept clicks proven by their action
// token and record the name Teams or the reviewer gives as unverified.
type TeamsOptions struct {
	// HMACSecret is the base64 security token of a Teams outgoing webhook
	// (or of a relay signing the same way). With it, a callback whose
	// "Authorization: HMAC …" header matches its raw body records the
	// user of its from field as verified; one whose HMAC header does not
	// match is refused (401). Defaults to "" (HMAC headers are not read).
	HMACSecret string
	// Authenticate is the host's check of a callback without an HMAC
	// header, typically Bot Framework JWT validation of "Authorization:
	// Bearer …". It returns the verified reviewer, or an error to refuse
	// the request (401). A returned Reviewer with neither ID nor Name
	// means "the request is authentic, trust its from field". Either way
	// the reviewer is recorded as verified. body is the raw request body;
	// do not keep it. Defaults to nil: the from field is recorded as
	// unverified.
	Authenticate func(r *http.Request, body []byte) (Reviewer, error)
	// Identify returns the reviewer behind a request from the host's own
	// authentication (a session cookie, a proxy header, a validated
	// bearer token), and false when the caller is not signed in. When it
	// is set, every decision takes its reviewer from Identify, recorded
	// as verified: on the confirmation page and in JSON callbacks alike,
	// where HMACSecret, Authenticate and the from field are then not
	// used. A caller it does not identify may not review (401). Defaults
	// to nil: the confirmation page asks for a name, recorded as
	// unverified.
	Identify func(r *http.Request) (Reviewer, bool)
	// MaxBodyBytes bounds a request body; a longer one is answered 413.
	// Defaults to 64 KiB.
	MaxBodyBytes int64
	// Logger receives refused and failed requests, never a token, secret
	// or signature. Defaults to discarding.
	Logger *slog.Logger
}

// teamsHandler is the handler NewTeamsHandler returns.
type teamsHandler struct {
	svc          *Service
	signer       *Signer
	hmac         *teams.HMACVerifier
	authenticate func(*http.Request, []byte) (Reviewer, error)
	identify     func(*http.Request) (Reviewer, bool)
	maxBody      int64
	log          *slog.Logger
	csrf         *http.CrossOriginProtection
	page         *template.Template
	mux          *http.ServeMux
}

// NewTeamsHandler returns the handler of [TeamsInteractionsPath],
// deciding through svc: Teams approval callbacks (POST, JSON) and the
// confirmation pages behind the Approve and Deny links of
// webhook-delivered cards (GET, then a form POST). svc's [Options.Signer]
// mints and checks the action tokens; without one NewTeamsHandler returns
// an error, as it does for an invalid HMACSecret. opts may be nil. Mount
// the handler on that path, under any prefix (with [http.StripPrefix]);
// other paths get 404 and other methods 405:
//
//	signer, err := approval.NewSigner(secret)
//	svc, err := approval.NewService(store, store, &approval.Options{Signer: signer})
//	h, err := approval.NewTeamsHandler(svc, nil)
//	mux.Handle(approval.TeamsInteractionsPath, h)
//
// # Callbacks
//
// A POST whose Content-Type is application/json, another +json type, or
// absent is a callback in one of these shapes: the data of an
// Action.Submit or Action.Execute button, {"action": "approve"|"deny",
// "approval_id": "…", "token": "…"}, bare (from a relay, optionally with
// an activity-style "from"); a Bot Framework message activity whose value
// is that data; or an adaptiveCard/action invoke whose value.action.data
// is that data (the action may also be the verb). Fields it does not use
// are ignored.
//
// Unlike the spec, which leaves this endpoint open, every decision needs
// the action token the card carried, minted by the Service's [Signer] for
// the same approval ID and action: the token names the request's
// organisation and proves which card was clicked. The spec's bare
// {"action", "approval_id"} without a token names no organisation and
// proves nothing, so it is refused (401) whatever else the request
// carries. The token does not say who clicked; the reviewer is, in order:
//
//  1. with [TeamsOptions.Identify], the caller it identifies, verified;
//     no identity, 401;
//  2. with an "Authorization: HMAC <base64>" header and
//     [TeamsOptions.HMACSecret], the payload's from (name, AAD object ID
//     or Teams ID), verified; a header that does not match the raw body,
//     401;
//  3. with [TeamsOptions.Authenticate], the reviewer it returns (or from),
//     verified; its error, 401;
//  4. otherwise from, unverified.
//
// A refusal is answered 401 {"error": "Unauthorized"}; the reason goes to
// the logger only. The name taken from from is cleaned like a typed one
// (see Links). An authentic token whose time has passed decides nothing:
// the request is marked expired if it is due ([Service.Expire]) and the
// answer says it has expired.
//
// The decision goes through [Service.Review] with [SourceTeams], and the
// answer is an Adaptive Card 1.4 showing the result (package teams'
// result card): "**APPROVED** by <name>" on a good (green) container,
// "**DENIED** by <name>" on attention (red), and for a request that
// cannot be decided the [Message] text ("Already approved", "Approval
// request has expired", …) on warning (amber), with the earlier reviewer
// when there is one. The status is 200 when decided, 404 for an unknown
// request (or another organisation's), 409 when it was already decided or
// has expired, 403 when the host's policy refuses the reviewer. The card
// comes bare for bare data, in a message envelope for message activities,
// and as an invoke response for invokes, which are always answered 200
// when there is a card to show: Teams displays an invoke's card only from
// a 200 whose body has statusCode 200. The card still says what happened.
//
// Requests the handler cannot act on get {"error": "…"} without a card: a
// body that is not JSON or not a callback, no approval_id, an action other
// than approve or deny, or no user to record as reviewer (400); a body
// over [TeamsOptions.MaxBodyBytes] (413); a Content-Type that is neither
// JSON nor a form (415); no valid token or authentication (401).
//
// # Links
//
// Teams drops Action.Submit from cards posted through incoming webhooks
// and Workflows, so those cards carry Approve and Deny as links to
// [TeamsInteractionsPath] with an action token. A GET of such a link
// never decides anything (link previews and scanners fetch URLs): it
// shows a small HTML page with the request (title, description, agent,
// action, risk, requested by, expiry) and a form whose single button,
// "Approve" or "Deny", POSTs the token back. Without
// [TeamsOptions.Identify] the form asks for the reviewer's name (trimmed,
// at most 100 characters, recorded as unverified). The POST decides
// through [Service.Review] and shows the result.
//
// Pages need no JavaScript and are sent with a strict
// Content-Security-Policy, Referrer-Policy: no-referrer (the token is in
// the URL), Cache-Control: no-store and X-Content-Type-Options: nosniff.
// A token that does not verify gets a 401 page, an expired one a 410
// page, both without details; a request already decided shows "Already
// approved" (or denied, or expired) with 409. Form POSTs from another
// site are refused (403, [http.CrossOriginProtection]). A token works for
// one decision only, since a decided request cannot be decided again, and
// expires with the request.
func NewTeamsHandler(svc *Service, opts *TeamsOptions) (http.Handler, error) {
	if svc == nil {
		return nil, errors.New("approval: NewTeamsHandler needs a Service")
	}
	if svc.opts.Signer == nil {
		return nil, errors.New("approval: NewTeamsHandler needs a Service with Options.Signer: every Teams decision is proven by an action token")
	}
	var o TeamsOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxBodyBytes < 0 {
		return nil, errors.New("approval: TeamsOptions.MaxBodyBytes is negative")
	}
	h := &teamsHandler{
		svc:          svc,
		signer:       svc.opts.Signer,
		authenticate: o.Authenticate,
		identify:     o.Identify,
		maxBody:      o.MaxBodyBytes,
		log:          o.Logger,
		csrf:         http.NewCrossOriginProtection(),
		page:         parseTeamsPage(),
		mux:          http.NewServeMux(),
	}
	if o.HMACSecret != "" {
		v, err := teams.NewHMACVerifier(o.HMACSecret)
		if err != nil {
			return nil, errors.New("approval: TeamsOptions.HMACSecret must be the base64 secret Teams shows for the outgoing webhook (at least 32 bytes)")
		}
		h.hmac = v
	}
	if h.maxBody == 0 {
		h.maxBody = defaultTeamsMaxBodyBytes
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.mux.HandleFunc("GET "+TeamsInteractionsPath, h.showPage)
	h.mux.HandleFunc("POST "+TeamsInteractionsPath, h.post)
	return h.mux, nil
}

// now is the Service's clock.
func (h *teamsHandler) now() time.Time { return h.svc.opts.Now() }

// post dispatches a POST: a form is the confirmation page's, anything
// else a JSON callback.
func (h *teamsHandler) post(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		h.callback(w, r)
		return
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err == nil && mt == "application/x-www-form-urlencoded":
		h.submitPage(w, r)
	case err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")):
		h.callback(w, r)
	default:
		httpjson.WriteError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
}

// teamsData is the data an approval card's buttons carry.
type teamsData struct {
	Action     string `json:"action"`
	ApprovalID string `json:"approval_id"`
	Token      string `json:"token"`
}

// teamsUser is the user of an activity's from field.
type teamsUser struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	AADObjectID string `json:"aadObjectId"`
}

// teamsCallback holds the fields of a callback the handler reads, in any
// of its shapes: bare data (the embedded teamsData), or an activity.
type teamsCallback struct {
	Type  string          `json:"type"`
	Name  string          `json:"name"`
	From  teamsUser       `json:"from"`
	Value json.RawMessage `json:"value"`
	teamsData
}

// teamsInvokeValue is the value of an adaptiveCard/action invoke.
type teamsInvokeValue struct {
	Action struct {
		Verb string    `json:"verb"`
		Data teamsData `json:"data"`
	} `json:"action"`
}

// teamsKind says which shape a callback came in, and so how to answer.
type teamsKind int

const (
	teamsKindData teamsKind = iota
	teamsKindMessage
	teamsKindInvoke
)

// The 400 answers of callbacks that are not usable approval callbacks.
const (
	teamsErrMalformed   = "Malformed payload: expected a JSON approval callback"
	teamsErrUnsupported = "Unsupported activity: only Action.Submit data, message activities and adaptiveCard/action invokes are accepted"
	teamsErrNoID        = "Missing approval_id"
	teamsErrAction      = "Unknown action: it must be approve or deny"
)

// decodeTeamsCallback reads a callback body. On failure it returns the
// 400 message.
func decodeTeamsCallback(body []byte) (kind teamsKind, data teamsData, from teamsUser, msg string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return 0, data, from, teamsErrMalformed
	}
	var c teamsCallback
	if err := json.Unmarshal(body, &c); err != nil {
		return 0, data, from, teamsErrMalformed
	}
	verb := ""
	switch c.Type {
	case "":
		kind, data = teamsKindData, c.teamsData
	case "message":
		v := bytes.TrimSpace(c.Value)
		if len(v) == 0 || bytes.Equal(v, []byte("null")) {
			return 0, data, from, teamsErrUnsupported
		}
		if v[0] != '{' || json.Unmarshal(v, &data) != nil {
			return 0, data, from, teamsErrMalformed
		}
		kind = teamsKindMessage
	case "invoke":
		if c.Name != teamsInvokeName {
			return 0, data, from, teamsErrUnsupported
		}
		var v teamsInvokeValue
		if err := json.Unmarshal(c.Value, &v); err != nil {
			return 0, data, from, teamsErrMalformed
		}
		kind, data, verb = teamsKindInvoke, v.Action.Data, v.Action.Verb
	default:
		return 0, data, from, teamsErrUnsupported
	}
	if data.ApprovalID == "" {
		return 0, data, from, teamsErrNoID
	}
	switch {
	case data.Action == "":
		data.Action = verb
	case verb != "" && verb != data.Action:
		return 0, data, from, teamsErrAction
	}
	if d := Decision(data.Action); d != Approve && d != Deny {
		return 0, data, from, teamsErrAction
	}
	return kind, data, c.From, ""
}

// callback handles a JSON callback.
func (h *teamsHandler) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			httpjson.WriteError(w, http.StatusRequestEntityTooLarge, "Request body is too large")
			return
		}
		httpjson.WriteError(w, http.StatusBadRequest, "Could not read the request body")
		return
	}
	kind, data, from, msg := decodeTeamsCallback(body)
	if msg != "" {
		h.log.InfoContext(ctx, "teams: malformed callback", "reason", msg)
		httpjson.WriteError(w, http.StatusBadRequest, msg)
		return
	}
	refuse := func(reason string) {
		h.log.WarnContext(ctx, "teams: callback refused", "reason", reason, "approval_id", data.ApprovalID)
		httpjson.WriteError(w, http.StatusUnauthorized, "Unauthorized")
	}
	c, tokenErr := h.signer.Verify(data.Token, h.now())
	switch {
	case data.Token == "":
		refuse("no action token")
		return
	case errors.Is(tokenErr, ErrTokenInvalid):
		refuse(tokenErr.Error())
		return
	case c.ApprovalID != data.ApprovalID || string(c.Decision) != data.Action:
		refuse("action token is for another approval or action")
		return
	}
	rv, reason := h.callbackReviewer(r, body, from)
	if reason != "" {
		refuse(reason)
		return
	}
	if rv.ID == "" && rv.Name == "" {
		httpjson.WriteError(w, http.StatusBadRequest, "The callback does not say who clicked (from.name or from.id)")
		return
	}
	var req Request
	if tokenErr != nil { // ErrTokenExpired: an authentic but stale card
		req, err = h.expireByToken(ctx, c)
	} else {
		req, err = h.svc.Review(ctx, c.OrgID, c.ApprovalID, c.Decision, rv, SourceTeams)
	}
	status, res := teamsOutcome(req, err)
	if status == http.StatusInternalServerError {
		h.log.ErrorContext(ctx, "teams: decision failed", "err", err, "org_id", c.OrgID, "approval_id", c.ApprovalID)
	}
	card := teams.ResultCard(res)
	switch kind {
	case teamsKindInvoke:
		httpjson.Write(w, http.StatusOK, teams.NewInvokeResponse(card))
	case teamsKindMessage:
		httpjson.Write(w, status, teams.NewMessage(card))
	default:
		httpjson.Write(w, status, card)
	}
}

// callbackReviewer returns who clicked, by the rules of NewTeamsHandler's
// doc, or the (log-only) reason to refuse the callback.
func (h *teamsHandler) callbackReviewer(r *http.Request, body []byte, from teamsUser) (Reviewer, string) {
	if h.identify != nil {
		rv, ok := h.identifyReviewer(r, "")
		if !ok {
			return Reviewer{}, "the host does not identify the caller (Identify)"
		}
		return rv, ""
	}
	rv := Reviewer{ID: from.AADObjectID, Name: cleanTeamsName(from.Name)}
	if rv.ID == "" {
		rv.ID = from.ID
	}
	auth := r.Header.Get("Authorization")
	if scheme, _, _ := strings.Cut(strings.TrimSpace(auth), " "); h.hmac != nil && strings.EqualFold(scheme, "HMAC") {
		if err := h.hmac.Verify(auth, body); err != nil {
			return Reviewer{}, err.Error()
		}
		rv.Verified = true
		return rv, ""
	}
	if h.authenticate != nil {
		got, err := h.authenticate(r, body)
		if err != nil {
			return Reviewer{}, "authenticate hook refused the request"
		}
		if got.ID != "" || got.Name != "" {
			rv = got
		}
		rv.Verified = true
	}
	return rv, ""
}

// expireByToken answers a click whose authentic token has expired: the
// request is marked expired when due, and never decided.
func (h *teamsHandler) expireByToken(ctx context.Context, c ActionClaims) (Request, error) {
	req, err := h.svc.Expire(ctx, c.OrgID, c.ApprovalID)
	if err == nil {
		// Expired now or before; or, for a token minted shorter-lived
		// than its request, still pending: the card is stale either way.
		err = ErrExpired
	}
	return req, err
}

// teamsStatus is the handler's one mapping from an error of
// Service.Review (or Service.Get) to an HTTP status, for callbacks and
// pages alike.
func teamsStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrNotPending), errors.Is(err, ErrExpired):
		return http.StatusConflict
	case errors.Is(err, ErrNotAllowed):
		return http.StatusForbidden
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// teamsOutcome maps the result of Service.Review to an HTTP status and
// the result card's content. Unexpected errors get Message's generic
// text.
func teamsOutcome(r Request, err error) (int, teams.Result) {
	status := teamsStatus(err)
	switch {
	case err == nil:
		at := time.Time{}
		if r.ReviewedAt != nil {
			at = *r.ReviewedAt
		}
		return status, teams.DecisionResult(r.Title, r.Status == StatusApproved, r.ReviewedBy, at)
	case status == http.StatusNotFound:
		// Nothing of a request the caller may not see.
		return status, teamsWarning("", err)
	}
	res := teamsWarning(r.Title, err)
	if status == http.StatusConflict && (r.Status == StatusApproved || r.Status == StatusDenied) {
		res.Reviewer = r.ReviewedBy
		if r.ReviewedAt != nil {
			res.At = *r.ReviewedAt
		}
	}
	return status, res
}

// teamsWarning is the amber result of a request that could not be
// decided: the Message of err.
func teamsWarning(title string, err error) teams.Result {
	return teams.Result{Title: title, Status: teams.EscapeMarkdown(Message(err)), Style: "warning"}
}

// identifyReviewer returns the reviewer of a link-flow request: the
// host's identity when Identify is set (ok false when the visitor is not
// signed in), else the typed name, unverified.
func (h *teamsHandler) identifyReviewer(r *http.Request, typed string) (rv Reviewer, ok bool) {
	if h.identify == nil {
		return Reviewer{Name: cleanTeamsName(typed)}, true
	}
	rv, ok = h.identify(r)
	if !ok || (rv.ID == "" && strings.TrimSpace(rv.Name) == "") {
		return Reviewer{}, false
	}
	rv.Verified = true
	return rv, true
}

// cleanTeamsName trims a typed name, turns each run of spaces, control
// and format characters (such as bidi overrides) into one space, and
// keeps at most maxTeamsReviewerName characters.
func cleanTeamsName(s string) string {
	name := strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	}), " ")
	if utf8.RuneCountInString(name) > maxTeamsReviewerName {
		name = strings.TrimSpace(string([]rune(name)[:maxTeamsReviewerName]))
	}
	return name
}
