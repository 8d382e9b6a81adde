package approval

import (
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

// TeamsInteractionsPath is the path the [TeamsHandler] answers, for JSON
// callbacks and for the Approve and Deny links of webhook-delivered cards
// alike. It equals [teams.InteractionsPath], which [teams.ActionURL]
// builds links to.
const TeamsInteractionsPath = teams.InteractionsPath

// Defaults and limits of the [TeamsHandler].
const (
	// DefaultTeamsMaxBodyBytes bounds a callback or form body.
	DefaultTeamsMaxBodyBytes = 64 << 10
	// MaxTeamsReviewerName is the most characters kept of a name typed on
	// the confirmation page.
	MaxTeamsReviewerName = 100
)

// TeamsOptions configures a [TeamsHandler]. At least one of Signer,
// HMACSecret and Authenticate must be set: the handler accepts no
// unauthenticated callback.
type TeamsOptions struct {
	// Signer verifies action tokens: those carried in the data of a JSON
	// callback ({"action", "approval_id", "token"}) and those in the
	// Approve and Deny links of webhook-delivered cards. It must be the
	// signer that minted them. Without it the link flow answers 404 and
	// callbacks need HMAC or Authenticate. Defaults to nil.
	Signer *teams.Signer
	// HMACSecret is the base64 security token of a Teams outgoing webhook
	// (or of a relay signing the same way). With it, a callback whose
	// "Authorization: HMAC …" header matches its raw body is
	// authenticated, and the user in its from field is trusted. Defaults
	// to "" (HMAC not accepted).
	HMACSecret string
	// Authenticate is the host's check of a callback that carries neither
	// a valid token nor a valid HMAC, typically Bot Framework JWT
	// validation of "Authorization: Bearer …". It returns the verified
	// reviewer, or an error to refuse the request (401). A returned
	// Reviewer with neither ID nor Name means "the request is authentic,
	// trust its from field". Either way the reviewer is recorded as
	// verified. body is the raw request body; do not keep it. Defaults to
	// nil.
	Authenticate func(r *http.Request, body []byte) (Reviewer, error)
	// Identify returns the reviewer behind a request of the link flow
	// from the host's own authentication (a session cookie, a proxy
	// header), and false when the visitor is not signed in; such a
	// visitor may not review (401). The reviewer is recorded as verified.
	// Defaults to nil: the confirmation page asks for a name, recorded
	// as unverified.
	Identify func(r *http.Request) (Reviewer, bool)
	// MaxBodyBytes bounds a request body; a longer one is answered 413.
	// Defaults to DefaultTeamsMaxBodyBytes (64 KiB).
	MaxBodyBytes int64
	// Logger receives refused and failed requests, never a token, secret
	// or signature. Defaults to discarding.
	Logger *slog.Logger
	// Now returns the current time, for token expiry. Defaults to
	// time.Now.
	Now func() time.Time
}

// TeamsHandler serves [TeamsInteractionsPath]: Teams approval callbacks
// (POST, JSON) and the confirmation pages behind the Approve and Deny
// links of webhook-delivered cards (GET, then a form POST). Mount it on
// that path, under any prefix (with [http.StripPrefix]):
//
//	signer, err := teams.NewSigner(secret)
//	h, err := approval.NewTeamsHandler(svc, &approval.TeamsOptions{Signer: signer})
//	mux.Handle(approval.TeamsInteractionsPath, h)
//
// # Callbacks
//
// A POST whose Content-Type is application/json, another +json type, or
// absent is a callback in one of the shapes [teams.ParseInteraction]
// reads: the spec's bare data {"action": "approve"|"deny",
// "approval_id": "…"}, a Bot Framework message activity whose value is
// that data, an outgoing-webhook command ("@Approver approve req-42"), or
// an adaptiveCard/action invoke.
//
// Unlike the spec, which leaves this endpoint open, every callback must be
// authenticated, by the first of these that succeeds:
//
//  1. a token in the data, minted by [TeamsOptions.Signer] for the same
//     approval ID and action, not expired; the reviewer is the payload's
//     from (name, AAD object ID or Teams ID), unverified, since the token
//     proves which card was clicked but not by whom;
//  2. an "Authorization: HMAC <base64>" header matching the raw body under
//     [TeamsOptions.HMACSecret]; the reviewer is from, verified;
//  3. [TeamsOptions.Authenticate]; the reviewer it returns, verified.
//
// Otherwise the answer is 401 {"error": "Unauthorized"}; the reason goes
// to the logger only. A token that is present but invalid, expired or
// minted for another request or action does not authenticate, yet does
// not stop the next method from trying. The name taken from from is
// cleaned like a typed one (see Links).
//
// The decision goes through [Service.Review] with [SourceTeams], and the
// answer is an Adaptive Card 1.4 showing the result ([teams.ResultCard]):
// "**APPROVED** by <name>" on a good (green) container, "**DENIED** by
// <name>" on attention (red), and for a request that cannot be decided the
// [Message] text ("Already approved", "Approval request has expired", …)
// on warning (amber), with the earlier reviewer when there is one. The
// status is 200 when decided, 404 for an unknown request, 409 when it was
// already decided or has expired, 403 when the host's policy refuses the
// reviewer. The card comes bare for bare data, in a [teams.Message]
// envelope for message activities and commands, and as a
// [teams.InvokeResponse] for invokes.
//
// Invokes and outgoing-webhook commands are always answered 200 when
// there is a card to show: Teams displays an invoke's card only from a
// 200 whose body has statusCode 200, and an outgoing webhook's reply only
// from a 200. The card still says what happened.
//
// Requests the handler cannot act on get {"error": "…"} without a card: a
// body that is not JSON or not a callback, no approval_id, an action other
// than approve or deny, or no user to record as reviewer (400); a body
// over [TeamsOptions.MaxBodyBytes] (413); a Content-Type that is neither
// JSON nor a form (415); no valid authentication (401).
//
// # Links
//
// Teams drops Action.Submit from cards posted through incoming webhooks
// and Workflows, so those cards carry Approve and Deny as links to
// [teams.ActionURL] with a signed token. A GET of such a link never
// decides anything (link previews and scanners fetch URLs): it shows a
// small HTML page with the request (title, description, agent, action,
// risk, requested by, expiry) and a form whose single button, "Approve"
// or "Deny", POSTs the token back. Without [TeamsOptions.Identify] the
// form asks for the reviewer's name (trimmed, at most
// [MaxTeamsReviewerName] characters, recorded as unverified). The POST
// decides through [Service.Review] and shows the result.
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
type TeamsHandler struct {
	svc          *Service
	signer       *teams.Signer
	hmac         *teams.HMACVerifier
	authenticate func(*http.Request, []byte) (Reviewer, error)
	identify     func(*http.Request) (Reviewer, bool)
	maxBody      int64
	log          *slog.Logger
	now          func() time.Time
	csrf         *http.CrossOriginProtection
	page         *template.Template
	mux          *http.ServeMux
}

// NewTeamsHandler returns the handler of [TeamsInteractionsPath]
// deciding through svc. opts must enable at least one way to authenticate
// callbacks (Signer, HMACSecret or Authenticate); an invalid HMACSecret is
// an error too.
func NewTeamsHandler(svc *Service, opts *TeamsOptions) (*TeamsHandler, error) {
	if svc == nil {
		return nil, errors.New("approval: NewTeamsHandler needs a Service")
	}
	var o TeamsOptions
	if opts != nil {
		o = *opts
	}
	if o.Signer == nil && o.HMACSecret == "" && o.Authenticate == nil {
		return nil, errors.New("approval: NewTeamsHandler needs a Signer, an HMACSecret or an Authenticate hook; Teams callbacks are never accepted unauthenticated")
	}
	h := &TeamsHandler{
		svc:          svc,
		signer:       o.Signer,
		authenticate: o.Authenticate,
		identify:     o.Identify,
		maxBody:      o.MaxBodyBytes,
		log:          o.Logger,
		now:          o.Now,
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
	if h.maxBody <= 0 {
		h.maxBody = DefaultTeamsMaxBodyBytes
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.mux.HandleFunc("GET "+TeamsInteractionsPath, h.showPage)
	h.mux.HandleFunc("POST "+TeamsInteractionsPath, h.post)
	return h, nil
}

// ServeHTTP implements [http.Handler].
func (h *TeamsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// post dispatches a POST: a form is the confirmation page's, anything
// else a JSON callback.
func (h *TeamsHandler) post(w http.ResponseWriter, r *http.Request) {
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

// callback handles a JSON callback.
func (h *TeamsHandler) callback(w http.ResponseWriter, r *http.Request) {
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
	in, err := teams.ParseInteraction(body)
	if err != nil {
		h.log.InfoContext(ctx, "teams: malformed callback", "err", err)
		httpjson.WriteError(w, http.StatusBadRequest, teamsParseMessage(err))
		return
	}
	rv, err := h.authenticateCallback(r, body, in)
	if err != nil {
		h.log.WarnContext(ctx, "teams: callback refused", "reason", err.Error(), "approval_id", in.ApprovalID, "kind", in.Kind)
		httpjson.WriteError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	if rv.ID == "" && rv.Name == "" {
		httpjson.WriteError(w, http.StatusBadRequest, "The callback does not say who clicked (from.name or from.id)")
		return
	}
	req, err := h.svc.Review(ctx, in.ApprovalID, Decision(in.Action), rv, SourceTeams)
	status, res := teamsOutcome(req, err)
	if status == http.StatusInternalServerError {
		h.log.ErrorContext(ctx, "teams: decision failed", "err", err, "approval_id", in.ApprovalID)
	}
	card := teams.ResultCard(res)
	switch in.Kind {
	case teams.KindInvoke:
		httpjson.Write(w, http.StatusOK, teams.NewInvokeResponse(card))
	case teams.KindCommand:
		httpjson.Write(w, http.StatusOK, teams.NewMessage(card))
	case teams.KindMessage:
		httpjson.Write(w, status, teams.NewMessage(card))
	default:
		httpjson.Write(w, status, card)
	}
}

// errTeamsUnauthenticated is returned by authenticateCallback when no
// method applies; its text, like the others', goes to the log only.
var errTeamsUnauthenticated = errors.New("no valid action token, HMAC or host authentication")

// authenticateCallback runs the three methods in order and returns the
// reviewer of the first that succeeds.
func (h *TeamsHandler) authenticateCallback(r *http.Request, body []byte, in teams.Interaction) (Reviewer, error) {
	from := Reviewer{ID: in.From.StableID(), Name: cleanTeamsName(in.From.Name)}
	var reasons []error
	if in.Token != "" {
		switch {
		case h.signer == nil:
			reasons = append(reasons, errors.New("action token given but no Signer configured"))
		default:
			c, err := h.signer.Verify(in.Token, h.now())
			switch {
			case err != nil:
				reasons = append(reasons, err)
			case c.ApprovalID != in.ApprovalID || c.Action != in.Action:
				reasons = append(reasons, errors.New("action token is for another approval or action"))
			default:
				return from, nil // the token proves the card, not the clicker
			}
		}
	}
	if auth := r.Header.Get("Authorization"); h.hmac != nil && auth != "" {
		if err := h.hmac.Verify(auth, body); err != nil {
			reasons = append(reasons, err)
		} else {
			from.Verified = true
			return from, nil
		}
	}
	if h.authenticate != nil {
		rv, err := h.authenticate(r, body)
		if err == nil {
			if rv.ID == "" && rv.Name == "" {
				rv = from
			}
			rv.Verified = true
			return rv, nil
		}
		reasons = append(reasons, errors.New("authenticate hook refused the request"))
	}
	if len(reasons) == 0 {
		return Reviewer{}, errTeamsUnauthenticated
	}
	return Reviewer{}, errors.Join(reasons...)
}

// teamsParseMessage is the client-facing text for an error of
// teams.ParseInteraction.
func teamsParseMessage(err error) string {
	switch {
	case errors.Is(err, teams.ErrMissingApprovalID):
		return "Missing approval_id"
	case errors.Is(err, teams.ErrUnknownAction):
		return "Unknown action: it must be approve or deny"
	case errors.Is(err, teams.ErrUnsupported):
		return "Unsupported activity: only Action.Submit data, message activities and adaptiveCard/action invokes are accepted"
	}
	return "Malformed payload: expected a JSON approval callback"
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
	case errors.Is(err, ErrSelfApproval), errors.Is(err, ErrNotAllowed):
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
		if r.Status == StatusDenied {
			return status, teams.DeniedResult(r.Title, r.ReviewedBy, at)
		}
		return status, teams.ApprovedResult(r.Title, r.ReviewedBy, at)
	case status == http.StatusNotFound:
		return status, teams.WarningResult("", Message(err))
	}
	res := teams.WarningResult(r.Title, Message(err))
	if status == http.StatusConflict && (r.Status == StatusApproved || r.Status == StatusDenied) {
		res.Reviewer = r.ReviewedBy
		if r.ReviewedAt != nil {
			res.At = *r.ReviewedAt
		}
	}
	return status, res
}

// identifyReviewer returns the reviewer of a link-flow request: the
// host's identity when Identify is set (ok false when the visitor is not
// signed in), else the typed name, unverified.
func (h *TeamsHandler) identifyReviewer(r *http.Request, typed string) (rv Reviewer, ok bool) {
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
// keeps at most MaxTeamsReviewerName characters.
func cleanTeamsName(s string) string {
	name := strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	}), " ")
	if utf8.RuneCountInString(name) > MaxTeamsReviewerName {
		name = strings.TrimSpace(string([]rune(name)[:MaxTeamsReviewerName]))
	}
	return name
}
