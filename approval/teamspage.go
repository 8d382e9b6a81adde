package approval

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"
)

// The security headers of every confirmation and result page. The page
// has no script, loads nothing, posts only to its own origin and cannot
// be framed; the token in its URL is never sent on as a Referer.
const (
	teamsPageCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
	// teamsNameField is the form field of the typed reviewer name.
	teamsNameField = "name"
)

// teamsPage is what the page template shows. Every string is escaped by
// html/template.
type teamsPage struct {
	Heading string
	Message string
	Detail  string
	Tone    string // "good", "attention", "warning" or ""
	Request *teamsPageRequest
	Form    *teamsPageForm
}

// teamsPageRequest summarises the request under review.
type teamsPageRequest struct {
	Title, Description, Agent, Action, Risk, RequestedBy, Expires string
	ConsoleURL                                                    string
}

// teamsPageForm is the confirmation form.
type teamsPageForm struct {
	Token      string
	Decision   string // "approve" or "deny", the button's class
	Button     string // "Approve" or "Deny"
	AskName    bool
	Name       string
	SignedInAs string
	Error      string
}

const teamsPageHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{.Heading}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f5f5;color:#242424}
main{max-width:38rem;margin:2rem auto;background:#fff;border-radius:8px;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.3rem;margin:0 0 1rem}
h2{font-size:1.1rem;margin:1.25rem 0 .5rem;overflow-wrap:anywhere}
.msg{padding:.75rem 1rem;border-radius:4px;border-left:4px solid #8a8886;background:#f3f2f1;margin:0}
.good{border-color:#107c10;background:#dff6dd}
.attention{border-color:#c50f1f;background:#fde7e9}
.warning{border-color:#c19c00;background:#fff4ce}
.detail{color:#605e5c}
.desc{white-space:pre-wrap;overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
label{display:block;margin:1rem 0 .3rem;font-weight:600}
input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1rem;padding:.6rem 1.6rem;font-size:1rem;border:0;border-radius:4px;color:#fff;background:#5b5fc7;cursor:pointer}
button.approve{background:#107c10}
button.deny{background:#c50f1f}
.error{color:#c50f1f;font-weight:600}
</style>
</head>
<body>
<main>
<h1>{{.Heading}}</h1>
{{with .Message}}<p class="msg {{$.Tone}}" role="status">{{.}}</p>{{end}}
{{with .Detail}}<p class="detail">{{.}}</p>{{end}}
{{with .Request}}<h2>{{.Title}}</h2>
{{with .Description}}<p class="desc">{{.}}</p>
{{end}}<dl>
{{with .Agent}}<dt>Agent</dt><dd>{{.}}</dd>
{{end}}{{with .Action}}<dt>Action</dt><dd>{{.}}</dd>
{{end}}<dt>Risk</dt><dd>{{.Risk}}</dd>
{{with .RequestedBy}}<dt>Requested by</dt><dd>{{.}}</dd>
{{end}}<dt>Expires</dt><dd>{{.Expires}}</dd>
</dl>
{{with .ConsoleURL}}<p><a href="{{.}}" rel="noopener noreferrer">View in console</a></p>
{{end}}{{end}}{{with .Form}}<form method="post">
<input type="hidden" name="token" value="{{.Token}}">
{{with .SignedInAs}}<p>Signed in as <strong>{{.}}</strong>.</p>
{{end}}{{if .AskName}}<label for="name">Your name</label>
<input type="text" id="name" name="name" required maxlength="100" autocomplete="name" value="{{.Name}}">
{{end}}{{with .Error}}<p class="error" role="alert">{{.}}</p>
{{end}}<button type="submit" class="{{.Decision}}">{{.Button}}</button>
</form>
{{end}}</main>
</body>
</html>
`

// parseTeamsPage parses the page template; NewTeamsHandler calls it once.
func parseTeamsPage() *template.Template {
	return template.Must(template.New("teams").Parse(teamsPageHTML))
}

// showPage answers a GET of an Approve or Deny link: the confirmation
// page, or why there is none. It never changes anything.
func (h *teamsHandler) showPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get(teamsTokenParam)
	c, req, ok := h.linkRequest(w, r, token)
	if !ok {
		return
	}
	if req.Expired(h.now()) {
		h.writeOutcomePage(w, r, c, req, ErrExpired)
		return
	}
	h.writeForm(w, r, http.StatusOK, token, c, req, "", "")
}

// submitPage handles the confirmation form's POST: it decides.
func (h *teamsHandler) submitPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := h.csrf.Check(r); err != nil {
		h.log.WarnContext(ctx, "teams: cross-origin form post refused", "origin", r.Header.Get("Origin"))
		h.writePage(w, http.StatusForbidden, teamsPage{Heading: "Request refused", Tone: "warning",
			Message: "This form can only be sent from its own page."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		h.writePage(w, status, teamsPage{Heading: "Request refused", Tone: "warning", Message: "The form could not be read."})
		return
	}
	token := r.PostForm.Get(teamsTokenParam)
	c, req, ok := h.linkRequest(w, r, token)
	if !ok {
		return
	}
	typed := r.PostForm.Get(teamsNameField)
	rv, ok := h.identifyReviewer(r, typed)
	switch {
	case !ok:
		h.writeSignIn(w, req)
		return
	case rv.Name == "" && rv.ID == "":
		h.writeForm(w, r, http.StatusBadRequest, token, c, req, typed, "Please enter your name.")
		return
	}
	decided, err := h.svc.Review(ctx, c.OrgID, c.ApprovalID, c.Decision, rv, SourceTeams)
	if decided.ID == "" {
		decided = req
	}
	h.writeOutcomePage(w, r, c, decided, err)
}

// linkRequest verifies a link's token and loads the request it names, in
// the organisation it names. When the token does not verify, or the
// request is unknown or no longer pending, it writes the page that says
// so and returns false.
func (h *teamsHandler) linkRequest(w http.ResponseWriter, r *http.Request, token string) (ActionClaims, Request, bool) {
	ctx := r.Context()
	refuse := func(status int, heading, msg string) (ActionClaims, Request, bool) {
		h.writePage(w, status, teamsPage{Heading: heading, Tone: "warning", Message: msg})
		return ActionClaims{}, Request{}, false
	}
	c, err := h.signer.Verify(token, h.now())
	switch {
	case errors.Is(err, ErrTokenExpired):
		h.log.InfoContext(ctx, "teams: expired link", "org_id", c.OrgID, "approval_id", c.ApprovalID)
		return refuse(http.StatusGone, "Link expired", "This link has expired.")
	case err != nil:
		h.log.InfoContext(ctx, "teams: invalid link token")
		return refuse(http.StatusUnauthorized, "Link not valid", "This link is not valid.")
	}
	req, err := h.svc.Get(ctx, c.OrgID, c.ApprovalID)
	switch {
	case err != nil:
		h.writeOutcomePage(w, r, c, Request{}, err)
		return c, Request{}, false
	case req.Status != StatusPending:
		h.writeOutcomePage(w, r, c, req, statusError(req.Status))
		return c, req, false
	}
	return c, req, true
}

// writeForm writes the confirmation page for req.
func (h *teamsHandler) writeForm(w http.ResponseWriter, r *http.Request, status int, token string, c ActionClaims, req Request, typed, problem string) {
	f := &teamsPageForm{Token: token, Decision: string(c.Decision), Button: "Approve", Error: problem}
	heading := "Approve this request?"
	if c.Decision == Deny {
		f.Button, heading = "Deny", "Deny this request?"
	}
	if h.identify == nil {
		f.AskName, f.Name = true, cleanTeamsName(typed)
	} else {
		rv, ok := h.identifyReviewer(r, "")
		if !ok {
			h.writeSignIn(w, req)
			return
		}
		f.SignedInAs = rv.Name
		if f.SignedInAs == "" {
			f.SignedInAs = rv.ID
		}
	}
	h.writePage(w, status, teamsPage{Heading: heading, Request: teamsSummary(req, h.now()), Form: f})
}

// writeSignIn tells a visitor the host does not know that they must sign
// in first.
func (h *teamsHandler) writeSignIn(w http.ResponseWriter, req Request) {
	h.writePage(w, http.StatusUnauthorized, teamsPage{Heading: "Sign in to review", Tone: "warning",
		Message: "You must be signed in to review this request. Sign in, then open the link again.",
		Request: teamsSummary(req, h.now())})
}

// writeOutcomePage shows the result of a decision, or why there is none:
// the same statuses and texts as the JSON callback.
func (h *teamsHandler) writeOutcomePage(w http.ResponseWriter, r *http.Request, c ActionClaims, req Request, err error) {
	status := teamsStatus(err)
	p := teamsPage{Heading: "Approval request", Tone: "warning", Message: Message(err)}
	if req.ID != "" {
		p.Request = teamsSummary(req, h.now())
	}
	switch {
	case err == nil && req.Status == StatusDenied:
		p.Heading, p.Tone, p.Message = "Denied", "attention", "Denied by "+req.ReviewedBy
	case err == nil:
		p.Heading, p.Tone, p.Message = "Approved", "good", "Approved by "+req.ReviewedBy
	case status == http.StatusInternalServerError:
		h.log.ErrorContext(r.Context(), "teams: decision failed", "err", err, "org_id", c.OrgID, "approval_id", c.ApprovalID)
	}
	if (req.Status == StatusApproved || req.Status == StatusDenied) && req.ReviewedAt != nil {
		p.Detail = fmt.Sprintf("Reviewed by %s via %s, %s.", req.ReviewedBy, req.ReviewSource.Title(), req.ReviewedAt.UTC().Format(teamsTimeLayout))
	}
	h.writePage(w, status, p)
}

// teamsSummary is the part of req a page shows.
func teamsSummary(req Request, now time.Time) *teamsPageRequest {
	s := &teamsPageRequest{
		Title:       req.Title,
		Description: req.Description,
		Agent:       req.Agent,
		Action:      req.Action,
		Risk:        fmt.Sprintf("%d (%s)", req.RiskScore, req.RiskLevel()), // "82 (high)", as in the chat messages
		RequestedBy: req.RequestedBy,
		Expires:     "Never",
	}
	if !req.ExpiresAt.IsZero() {
		s.Expires = req.ExpiresAt.UTC().Format(teamsTimeLayout)
		if req.Expired(now) {
			s.Expires += " (expired)"
		}
	}
	if u, err := url.Parse(req.ConsoleURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		s.ConsoleURL = req.ConsoleURL
	}
	return s
}

// writePage renders p with the pages' security headers.
func (h *teamsHandler) writePage(w http.ResponseWriter, status int, p teamsPage) {
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, p); err != nil {
		h.log.Error("teams: page could not be rendered", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", teamsPageCSP)
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
