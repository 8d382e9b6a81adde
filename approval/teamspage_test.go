package approval_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
)

// linkGet opens an Approve or Deny link as a browser would.
func (f *teamsFixture) linkGet(token string, headers ...string) *httptest.ResponseRecorder {
	target := approval.TeamsInteractionsPath + "?token=" + url.QueryEscape(token)
	req := httptest.NewRequestWithContext(f.t.Context(), http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// linkPost submits the confirmation form, as a browser on the page would
// (same origin: Sec-Fetch-Site same-origin).
func (f *teamsFixture) linkPost(form url.Values, headers ...string) *httptest.ResponseRecorder {
	target := approval.TeamsInteractionsPath + "?token=" + url.QueryEscape(form.Get("token"))
	req := httptest.NewRequestWithContext(f.t.Context(), http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func assertTeamsPageHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := rec.Header()
	assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	assert.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'", h.Get("Content-Security-Policy"))
	assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	assert.Equal(t, "no-store", h.Get("Cache-Control"))
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
	assert.NotContains(t, rec.Body.String(), "<script", "pages need no JavaScript")
}

func TestTeamsLinkGetShowsConfirmation(t *testing.T) {
	for _, action := range []string{"approve", "deny"} {
		t.Run(action, func(t *testing.T) {
			f := newTeamsFixture(t, nil)
			f.create("req-1")
			tok := f.token("req-1", action, f.clock().Add(time.Hour))
			rec := f.linkGet(tok)
			require.Equal(t, http.StatusOK, rec.Code)
			assertTeamsPageHeaders(t, rec)
			page := rec.Body.String()
			button := map[string]string{"approve": "Approve", "deny": "Deny"}[action]
			for _, want := range []string{
				"<h1>" + button + " this request?</h1>",
				"<h2>Deploy payments-api to production</h2>",
				"Rolls out v2.3.1.",
				"<dt>Agent</dt><dd>deploy-bot</dd>",
				"<dt>Action</dt><dd>kubectl apply</dd>",
				"<dt>Risk</dt><dd>85 (high)</dd>",
				"<dt>Requested by</dt><dd>user-7</dd>",
				"<dt>Expires</dt><dd>2026-03-01 13:00 UTC</dd>",
				`<a href="https://console.example.com/approvals/req-1" rel="noopener noreferrer">View in console</a>`,
				`<form method="post">`,
				`<input type="hidden" name="token" value="` + tok + `">`,
				`<input type="text" id="name" name="name" required maxlength="100" autocomplete="name" value="">`,
				`<button type="submit" class="` + action + `">` + button + `</button>`,
			} {
				assert.Contains(t, page, want)
			}
			assert.NotContains(t, page, " action=", "the form posts back to its own URL")
			// GET never decides: link previews and scanners fetch URLs.
			assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
			assert.Empty(t, f.audit("req-1"))
		})
	}
}

func TestTeamsLinkGetRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		tweak  func(*approval.Options, *approval.TeamsOptions)
		setup  func(f *teamsFixture) string // returns the token
		status int
		text   string
	}{
		"no token": {
			setup:  func(f *teamsFixture) string { return "" },
			status: http.StatusUnauthorized, text: "This link is not valid.",
		},
		"garbage token": {
			setup:  func(f *teamsFixture) string { return "cn2.not.valid" },
			status: http.StatusUnauthorized, text: "This link is not valid.",
		},
		"token from another signer": {
			setup: func(f *teamsFixture) string {
				other, err := approval.NewSigner([]byte(strings.Repeat("z", 32)))
				require.NoError(f.t, err)
				return other.Sign(approval.ActionClaims{OrgID: "org-1", ApprovalID: "req-1", Decision: approval.Approve, ExpiresAt: f.clock().Add(time.Hour)})
			},
			status: http.StatusUnauthorized, text: "This link is not valid.",
		},
		"expired token": {
			setup: func(f *teamsFixture) string {
				tok := f.token("req-1", "approve", f.clock().Add(time.Hour))
				f.advance(time.Hour)
				return tok
			},
			status: http.StatusGone, text: "This link has expired.",
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newTeamsFixture(t, tc.tweak)
			f.create("req-1")
			rec := f.linkGet(tc.setup(f))
			require.Equal(t, tc.status, rec.Code)
			assertTeamsPageHeaders(t, rec)
			page := rec.Body.String()
			assert.Contains(t, page, tc.text)
			assert.NotContains(t, page, "Deploy payments-api", "a bad link reveals nothing about the request")
			assert.NotContains(t, page, "<form")
			assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
		})
	}
}

func TestTeamsLinkGetUnknownRequest(t *testing.T) {
	f := newTeamsFixture(t, nil)
	rec := f.linkGet(f.token("req-gone", "approve", f.clock().Add(time.Hour)))
	require.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, rec.Body.String(), "Approval request not found")
	assert.NotContains(t, rec.Body.String(), "<form")
}

// TestTeamsLinkOtherOrganisation opens and submits a link whose token
// names another organisation than the request's: not found, nothing
// shown, nothing decided.
func TestTeamsLinkOtherOrganisation(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	tok := f.orgToken("org-2", "req-1", "approve", f.clock().Add(time.Hour))

	rec := f.linkGet(tok)
	require.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, rec.Body.String(), "Approval request not found")
	assert.NotContains(t, rec.Body.String(), "Deploy payments-api", "nothing of org-1's request")

	rec = f.linkPost(url.Values{"token": {tok}, "name": {"Mallory"}})
	require.Equal(t, http.StatusNotFound, rec.Code)
	assert.NotContains(t, rec.Body.String(), "Deploy payments-api")
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
	assert.Empty(t, f.audit("req-1"))
}

// TestTeamsLinkGetExpiredRequest opens a link whose token outlives its
// request: the page says so and, being a GET, does not mark it expired.
func TestTeamsLinkGetExpiredRequest(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	tok := f.token("req-1", "approve", f.clock().Add(3*time.Hour))
	f.advance(2 * time.Hour)
	rec := f.linkGet(tok)
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, rec.Body.String(), "Approval request has expired")
	assert.Contains(t, rec.Body.String(), "2026-03-01 13:00 UTC (expired)")
	assert.NotContains(t, rec.Body.String(), "<form")
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
	assert.Empty(t, f.audit("req-1"))
}

func TestTeamsLinkFlowDecides(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	tok := f.token("req-1", "approve", f.clock().Add(time.Hour))
	require.Equal(t, http.StatusOK, f.linkGet(tok).Code)

	f.advance(5 * time.Minute)
	rec := f.linkPost(url.Values{"token": {tok}, "name": {"  Jane \t  Doe \n"}})
	require.Equal(t, http.StatusOK, rec.Code, "page: %s", rec.Body)
	assertTeamsPageHeaders(t, rec)
	page := rec.Body.String()
	assert.Contains(t, page, "<h1>Approved</h1>")
	assert.Contains(t, page, `<p class="msg good" role="status">Approved by Jane Doe</p>`)
	assert.Contains(t, page, "Reviewed by Jane Doe via Teams, 2026-03-01 12:05 UTC.")
	assert.NotContains(t, page, "<form")

	got := f.get("req-1")
	assert.Equal(t, approval.StatusApproved, got.Status)
	assert.Equal(t, "Jane Doe", got.ReviewedBy)
	assert.Equal(t, approval.SourceTeams, got.ReviewSource)
	assert.Equal(t, "Approved by Jane Doe via Teams", got.ReviewNotes)
	es := f.audit("req-1")
	require.Len(t, es, 1)
	assert.Equal(t, approval.AuditReviewed, es[0].Action)
	assert.Equal(t, "Jane Doe", es[0].Actor)
	assert.Empty(t, es[0].ActorID)
	assert.False(t, es[0].Verified, "a typed name is not a verified identity")
	assert.Equal(t, approval.SourceTeams, es[0].Source)

	// The token is spent: the status guard refuses a second decision,
	// and opening the link again says what happened.
	rec = f.linkPost(url.Values{"token": {tok}, "name": {"Mallory"}})
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, rec.Body.String(), "Already approved")
	assert.Contains(t, rec.Body.String(), "Reviewed by Jane Doe via Teams")
	rec = f.linkGet(tok)
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, rec.Body.String(), `<p class="msg warning" role="status">Already approved</p>`)
	assert.NotContains(t, rec.Body.String(), "<form")
	assert.Equal(t, "Jane Doe", f.get("req-1").ReviewedBy)
	assert.Len(t, f.audit("req-1"), 1)
}

func TestTeamsLinkFlowDeny(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	rec := f.linkPost(url.Values{"token": {f.token("req-1", "deny", f.clock().Add(time.Hour))}, "name": {"Sam"}})
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `<p class="msg attention" role="status">Denied by Sam</p>`)
	assert.Equal(t, approval.StatusDenied, f.get("req-1").Status)
}

// TestTeamsLinkFlowIgnoresFormAction checks that the token, not a form
// field, decides what happens.
func TestTeamsLinkFlowIgnoresFormAction(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	rec := f.linkPost(url.Values{"token": {f.token("req-1", "deny", f.clock().Add(time.Hour))}, "name": {"Sam"}, "action": {"approve"}})
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, approval.StatusDenied, f.get("req-1").Status)
}

func TestTeamsLinkFlowName(t *testing.T) {
	for name, tc := range map[string]struct {
		typed  string
		status int
		want   string // the recorded reviewer
	}{
		"missing":               {"", http.StatusBadRequest, ""},
		"blank":                 {" \t\n ", http.StatusBadRequest, ""},
		"only control chars":    {"\x00\u202e\u200b", http.StatusBadRequest, ""},
		"trimmed and squeezed":  {"  Ana   María\tLópez ", http.StatusOK, "Ana María López"},
		"bidi override removed": {"evil\u202egnp.exe", http.StatusOK, "evil gnp.exe"},
		"bounded":               {strings.Repeat("é", 300), http.StatusOK, strings.Repeat("é", 100)},
	} {
		t.Run(name, func(t *testing.T) {
			f := newTeamsFixture(t, nil)
			f.create("req-1")
			tok := f.token("req-1", "approve", f.clock().Add(time.Hour))
			rec := f.linkPost(url.Values{"token": {tok}, "name": {tc.typed}})
			require.Equal(t, tc.status, rec.Code, "page: %s", rec.Body)
			if tc.status != http.StatusOK {
				assert.Contains(t, rec.Body.String(), "Please enter your name.")
				assert.Contains(t, rec.Body.String(), `<form method="post">`, "the form is shown again")
				assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
				return
			}
			assert.Equal(t, tc.want, f.get("req-1").ReviewedBy)
		})
	}
}

func TestTeamsLinkPostRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		form    func(f *teamsFixture) url.Values
		headers []string
		status  int
		text    string
	}{
		"cross-site post": {
			form: func(f *teamsFixture) url.Values {
				return url.Values{"token": {f.token("req-1", "approve", f.clock().Add(time.Hour))}, "name": {"X"}}
			},
			headers: []string{"Sec-Fetch-Site", "cross-site"},
			status:  http.StatusForbidden, text: "This form can only be sent from its own page.",
		},
		"foreign origin": {
			form: func(f *teamsFixture) url.Values {
				return url.Values{"token": {f.token("req-1", "approve", f.clock().Add(time.Hour))}, "name": {"X"}}
			},
			headers: []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"},
			status:  http.StatusForbidden, text: "This form can only be sent from its own page.",
		},
		"no token": {
			form:   func(f *teamsFixture) url.Values { return url.Values{"name": {"X"}} },
			status: http.StatusUnauthorized, text: "This link is not valid.",
		},
		"bad token": {
			form:   func(f *teamsFixture) url.Values { return url.Values{"token": {"cn2.x.y"}, "name": {"X"}} },
			status: http.StatusUnauthorized, text: "This link is not valid.",
		},
		"expired token": {
			form: func(f *teamsFixture) url.Values {
				return url.Values{"token": {f.token("req-1", "approve", f.clock())}, "name": {"X"}}
			},
			status: http.StatusGone, text: "This link has expired.",
		},
		"too large": {
			form: func(f *teamsFixture) url.Values {
				return url.Values{"token": {f.token("req-1", "approve", f.clock().Add(time.Hour))}, "name": {strings.Repeat("x", 64<<10)}}
			},
			status: http.StatusRequestEntityTooLarge, text: "The form could not be read.",
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newTeamsFixture(t, nil)
			f.create("req-1")
			rec := f.linkPost(tc.form(f), tc.headers...)
			require.Equal(t, tc.status, rec.Code, "page: %s", rec.Body)
			assertTeamsPageHeaders(t, rec)
			assert.Contains(t, rec.Body.String(), tc.text)
			assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
			assert.Empty(t, f.audit("req-1"))
		})
	}
}

// TestTeamsLinkPostExpiredRequest submits a form after the request's
// deadline (the token outlives it): the POST marks it expired, once.
func TestTeamsLinkPostExpiredRequest(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	tok := f.token("req-1", "approve", f.clock().Add(3*time.Hour))
	f.advance(90 * time.Minute)
	rec := f.linkPost(url.Values{"token": {tok}, "name": {"Late Larry"}})
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, rec.Body.String(), "Approval request has expired")
	assert.Equal(t, approval.StatusExpired, f.get("req-1").Status)
	es := f.audit("req-1")
	require.Len(t, es, 1)
	assert.Equal(t, approval.AuditExpired, es[0].Action)
}

func TestTeamsLinkFlowWithIdentify(t *testing.T) {
	identify := func(r *http.Request) (approval.Reviewer, bool) {
		c, err := r.Cookie("session")
		if err != nil || c.Value != "jane" {
			return approval.Reviewer{}, false
		}
		return approval.Reviewer{ID: "user-jane", Name: "Jane <Admin>"}, true
	}
	f := newTeamsFixture(t, func(_ *approval.Options, o *approval.TeamsOptions) { o.Identify = identify })
	f.create("req-1")
	tok := f.token("req-1", "approve", f.clock().Add(time.Hour))

	// Not signed in: no form, and a POST does not decide.
	rec := f.linkGet(tok)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Contains(t, rec.Body.String(), "You must be signed in to review this request.")
	assert.NotContains(t, rec.Body.String(), "<form")
	rec = f.linkPost(url.Values{"token": {tok}, "name": {"Someone Else"}})
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status)

	// Signed in: no name field, and the decision is verified.
	rec = f.linkGet(tok, "Cookie", "session=jane")
	require.Equal(t, http.StatusOK, rec.Code)
	page := rec.Body.String()
	assert.Contains(t, page, "Signed in as <strong>Jane &lt;Admin&gt;</strong>.")
	assert.NotContains(t, page, `name="name"`)
	rec = f.linkPost(url.Values{"token": {tok}, "name": {"Ignored Name"}}, "Cookie", "session=jane")
	require.Equal(t, http.StatusOK, rec.Code, "page: %s", rec.Body)
	assert.Contains(t, rec.Body.String(), "Approved by Jane &lt;Admin&gt;")
	got := f.get("req-1")
	assert.Equal(t, "Jane <Admin>", got.ReviewedBy)
	assert.Equal(t, "user-jane", got.ReviewerID)
	es := f.audit("req-1")
	require.Len(t, es, 1)
	assert.True(t, es[0].Verified)
	assert.Equal(t, "user-jane", es[0].ActorID)
}

// TestTeamsLinkPageEscaping puts markup in every user-controlled text
// and checks that none of it reaches the page unescaped.
func TestTeamsLinkPageEscaping(t *testing.T) {
	f := newTeamsFixture(t, nil)
	const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	f.create("req-1", func(r *approval.Request) {
		r.Title = "Deploy " + evil
		r.Description = evil
		r.Agent = evil
		r.Action = evil
		r.RequestedBy = evil
		r.ConsoleURL = "javascript:alert(3)"
	})
	tok := f.token("req-1", "approve", f.clock().Add(time.Hour))
	pages := map[string]string{"confirmation": f.linkGet(tok).Body.String()}
	rec := f.linkPost(url.Values{"token": {tok}, "name": {evil}})
	require.Equal(t, http.StatusOK, rec.Code)
	pages["result"] = rec.Body.String()
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			assert.NotContains(t, page, "<script")
			assert.NotContains(t, page, "<img")
			assert.NotContains(t, page, "javascript:")
			assert.NotContains(t, page, "View in console", "a non-http console URL is not linked")
			assert.Contains(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;")
		})
	}
}
