package approval_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
)

// The secret of protocol.md §7's HMAC example.
const teamsTestHMACSecret = "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA="

var teamsT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// teamsHMAC is the Authorization header a Teams outgoing webhook sends
// for body: HMAC-SHA256 keyed with the decoded secret, in base64.
func teamsHMAC(body string) string {
	key, err := base64.StdEncoding.DecodeString(teamsTestHMACSecret)
	if err != nil {
		panic(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return "HMAC " + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// teamsFixture is a Teams handler over a testStore, with a settable
// clock shared by the service and the handler.
type teamsFixture struct {
	t      *testing.T
	store  *testStore
	svc    *approval.Service
	signer *approval.Signer
	h      http.Handler
	mu     sync.Mutex
	now    time.Time
}

func (f *teamsFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *teamsFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// newTeamsFixture builds the fixture; tweak may change the service and
// handler options (the Signer and HMACSecret are set by default).
func newTeamsFixture(t *testing.T, tweak func(*approval.Options, *approval.TeamsOptions)) *teamsFixture {
	t.Helper()
	f := &teamsFixture{t: t, store: newTestStore(), now: teamsT0}
	var err error
	f.signer, err = approval.NewSigner([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	so := &approval.Options{Now: f.clock, Signer: f.signer}
	to := &approval.TeamsOptions{HMACSecret: teamsTestHMACSecret}
	if tweak != nil {
		tweak(so, to)
	}
	f.svc, err = approval.NewService(f.store, f.store, so)
	require.NoError(t, err)
	f.h, err = approval.NewTeamsHandler(f.svc, to)
	require.NoError(t, err)
	return f
}

// withHook sets an Authenticate hook accepting "Bearer good" (as Hook
// User) and "Bearer anonymous" (vouching for from), refusing anything
// else, no Authorization header included.
func withHook(_ *approval.Options, o *approval.TeamsOptions) {
	o.Authenticate = func(r *http.Request, body []byte) (approval.Reviewer, error) {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			return approval.Reviewer{ID: "aad-hook", Name: "Hook User"}, nil
		case "Bearer anonymous":
			return approval.Reviewer{}, nil
		}
		return approval.Reviewer{}, errors.New("bad bearer token")
	}
}

// create stores a pending request of org-1 expiring in an hour.
func (f *teamsFixture) create(id string, mutate ...func(*approval.Request)) approval.Request {
	f.t.Helper()
	r := approval.Request{
		ID: id, OrgID: "org-1", Title: "Deploy payments-api to production", Description: "Rolls out v2.3.1.",
		Agent: "deploy-bot", Action: "kubectl apply", RiskScore: 85, RequestedBy: "user-7",
		ConsoleURL: "https://console.example.com/approvals/" + id, ExpiresAt: f.clock().Add(time.Hour),
	}
	for _, m := range mutate {
		m(&r)
	}
	r, err := f.svc.Create(f.t.Context(), r)
	require.NoError(f.t, err)
	return r
}

// token is an action token for request id of org-1.
func (f *teamsFixture) token(id, action string, exp time.Time) string {
	return f.orgToken("org-1", id, action, exp)
}

func (f *teamsFixture) orgToken(org, id, action string, exp time.Time) string {
	return f.signer.Sign(approval.ActionClaims{OrgID: org, ApprovalID: id, Decision: approval.Decision(action), ExpiresAt: exp})
}

// get returns request id of org-1.
func (f *teamsFixture) get(id string) approval.Request {
	f.t.Helper()
	r, err := f.store.GetApproval(f.t.Context(), "org-1", id)
	require.NoError(f.t, err)
	return r
}

func (f *teamsFixture) audit(id string) []approval.AuditEntry {
	f.t.Helper()
	es, err := f.store.ListAudit(f.t.Context(), "org-1", approval.AuditFilter{ApprovalID: id})
	require.NoError(f.t, err)
	return es
}

// post sends a JSON callback with the given headers (name, value pairs).
func (f *teamsFixture) post(body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(f.t.Context(), http.MethodPost, approval.TeamsInteractionsPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// teamsBare is the spec's data with a token and an activity-style from.
func teamsBare(action, id, token string) string {
	b, _ := json.Marshal(map[string]any{
		"action": action, "approval_id": id, "token": token,
		"from": map[string]string{"id": "29:1abc", "name": "Jane Doe", "aadObjectId": "aad-jane"},
	})
	return string(b)
}

// teamsMessage is the official cards-actions.md message activity with
// our data as its value.
func teamsMessage(action, id, token string) string {
	return `{"text":"User just clicked the MessageBack button","value":{"action":"` + action + `","approval_id":"` + id + `","token":"` + token + `"},"type":"message","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/amer-client-ss.msg/","from":{"id":"29:102jd210jd010icsoaeclaejcoa9ue09u","name":"John Smith","aadObjectId":"aad-john"},"conversation":{"id":"19:malejcou081i20ojmlcau0@thread.skype;messageid=1498171086622"},"recipient":{"id":"28:76096e45","name":"MyBot"},"channelData":{"tenant":{"id":"bec8e231"}},"replyToId":"1575667808184"}`
}

// teamsInvoke is an adaptiveCard/action invoke (Action.Execute).
func teamsInvoke(action, id, token string) string {
	return `{"type":"invoke","name":"adaptiveCard/action","channelId":"msteams","value":{"action":{"type":"Action.Execute","verb":"` + action + `","data":{"action":"` + action + `","approval_id":"` + id + `","token":"` + token + `"}},"trigger":"manual"},"from":{"id":"29:1abc","name":"Jane Doe","aadObjectId":"aad-jane"},"replyToId":"1575667808184"}`
}

// The shapes of a callback, as the tests name them.
const (
	kindData    = "data"
	kindMessage = "message"
	kindInvoke  = "invoke"
)

const contentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"

// teamsCardView is the part of a result card the tests look at.
type teamsCardView struct {
	Type, Version string
	Style         string
	Texts         []string
	Facts         map[string]string
}

func decodeTeamsCard(t *testing.T, raw json.RawMessage) teamsCardView {
	t.Helper()
	var c struct {
		Type    string `json:"type"`
		Version string `json:"version"`
		Body    []struct {
			Type  string `json:"type"`
			Style string `json:"style"`
			Items []struct {
				Type  string `json:"type"`
				Text  string `json:"text"`
				Facts []struct{ Title, Value string }
			} `json:"items"`
		} `json:"body"`
	}
	require.NoError(t, json.Unmarshal(raw, &c), "card: %s", raw)
	require.Len(t, c.Body, 1, "card: %s", raw)
	require.Equal(t, "Container", c.Body[0].Type)
	v := teamsCardView{Type: c.Type, Version: c.Version, Style: c.Body[0].Style, Facts: map[string]string{}}
	for _, it := range c.Body[0].Items {
		if it.Type == "TextBlock" {
			v.Texts = append(v.Texts, it.Text)
		}
		for _, fc := range it.Facts {
			v.Facts[fc.Title] = fc.Value
		}
	}
	return v
}

// cardOf extracts the card from a response of any shape.
func cardOf(t *testing.T, rec *httptest.ResponseRecorder, kind string) teamsCardView {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	body := rec.Body.Bytes()
	switch kind {
	case kindMessage:
		var m struct {
			Type        string `json:"type"`
			Attachments []struct {
				ContentType string          `json:"contentType"`
				ContentURL  *string         `json:"contentUrl"`
				Content     json.RawMessage `json:"content"`
			} `json:"attachments"`
		}
		require.NoError(t, json.Unmarshal(body, &m))
		require.Equal(t, "message", m.Type)
		require.Len(t, m.Attachments, 1)
		require.Equal(t, contentTypeAdaptiveCard, m.Attachments[0].ContentType)
		require.Nil(t, m.Attachments[0].ContentURL)
		return decodeTeamsCard(t, m.Attachments[0].Content)
	case kindInvoke:
		var ir struct {
			StatusCode int             `json:"statusCode"`
			Type       string          `json:"type"`
			Value      json.RawMessage `json:"value"`
		}
		require.NoError(t, json.Unmarshal(body, &ir))
		require.Equal(t, 200, ir.StatusCode)
		require.Equal(t, contentTypeAdaptiveCard, ir.Type)
		return decodeTeamsCard(t, ir.Value)
	}
	return decodeTeamsCard(t, body)
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), "body: %s", rec.Body)
	require.NotEmpty(t, e.Error)
	return e.Error
}

func TestTeamsCallbackAuthentication(t *testing.T) {
	type expect struct {
		status   int
		actor    string
		actorID  string
		verified bool
	}
	refused := expect{status: http.StatusUnauthorized}
	valid := func(f *teamsFixture, id string) string { return f.token(id, "approve", f.clock().Add(time.Hour)) }
	for name, tc := range map[string]struct {
		tweak   func(*approval.Options, *approval.TeamsOptions)
		request func(f *teamsFixture, id string) *httptest.ResponseRecorder
		want    expect
	}{
		"no token": {
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, ""))
			},
			want: refused,
		},
		"spec data without anything": {
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(`{"action":"approve","approval_id":"` + id + `"}`)
			},
			want: refused,
		},
		"no token, valid HMAC": {
			// Authentic, but no token: no organisation, no proof of the card.
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				body := teamsBare("approve", id, "")
				return f.post(body, "Authorization", teamsHMAC(body))
			},
			want: refused,
		},
		"no token, host-authenticated": {
			tweak: withHook,
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, ""), "Authorization", "Bearer good")
			},
			want: refused,
		},
		"valid token": {
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, valid(f, id)))
			},
			want: expect{http.StatusOK, "Jane Doe", "aad-jane", false},
		},
		"garbage token": {
			tweak: withHook,
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, "cn2.garbage.token"), "Authorization", "Bearer good")
			},
			want: refused,
		},
		"token for another approval": {
			tweak: withHook,
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, valid(f, "other")), "Authorization", "Bearer good")
			},
			want: refused,
		},
		"token for the other action": {
			tweak: withHook,
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, f.token(id, "deny", f.clock().Add(time.Hour))), "Authorization", "Bearer good")
			},
			want: refused,
		},
		"token from another signer": {
			tweak: withHook,
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				other, err := approval.NewSigner([]byte(strings.Repeat("z", 32)))
				require.NoError(t, err)
				tok := other.Sign(approval.ActionClaims{OrgID: "org-1", ApprovalID: id, Decision: approval.Approve, ExpiresAt: f.clock().Add(time.Hour)})
				return f.post(teamsBare("approve", id, tok), "Authorization", "Bearer good")
			},
			want: refused,
		},
		"valid token and HMAC": {
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				body := teamsBare("approve", id, valid(f, id))
				return f.post(body, "Authorization", teamsHMAC(body))
			},
			want: expect{http.StatusOK, "Jane Doe", "aad-jane", true},
		},
		"valid token, bad HMAC": {
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, valid(f, id)), "Authorization", "HMAC YEH5hC22I19XiggMoFUxxrv5DeNJkn6WQQY8vgHwOIo=")
			},
			want: refused,
		},
		"valid token, HMAC over a different body": {
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, valid(f, id)), "Authorization", teamsHMAC(teamsBare("deny", id, "")))
			},
			want: refused,
		},
		"valid token, HMAC but no secret configured": {
			// The header goes to the Authenticate hook, which refuses it.
			tweak: func(so *approval.Options, o *approval.TeamsOptions) { withHook(so, o); o.HMACSecret = "" },
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				body := teamsBare("approve", id, valid(f, id))
				return f.post(body, "Authorization", teamsHMAC(body))
			},
			want: refused,
		},
		"valid token, hook": {
			tweak: withHook,
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, valid(f, id)), "Authorization", "Bearer good")
			},
			want: expect{http.StatusOK, "Hook User", "aad-hook", true},
		},
		"valid token, hook vouching for from": {
			tweak: withHook,
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, valid(f, id)), "Authorization", "Bearer anonymous")
			},
			want: expect{http.StatusOK, "Jane Doe", "aad-jane", true},
		},
		"valid token, hook refusing a request without credentials": {
			tweak: withHook,
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, valid(f, id)))
			},
			want: refused,
		},
		"valid token, hook error": {
			tweak: withHook,
			request: func(f *teamsFixture, id string) *httptest.ResponseRecorder {
				return f.post(teamsBare("approve", id, valid(f, id)), "Authorization", "Bearer forged")
			},
			want: refused,
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newTeamsFixture(t, tc.tweak)
			id := "req-auth"
			f.create(id)
			rec := tc.request(f, id)
			require.Equal(t, tc.want.status, rec.Code, "body: %s", rec.Body)
			got := f.get(id)
			if tc.want.status != http.StatusOK {
				assert.Equal(t, "Unauthorized", errorOf(t, rec))
				assert.Equal(t, approval.StatusPending, got.Status, "a refused callback must not decide")
				assert.Empty(t, f.audit(id))
				return
			}
			assert.Equal(t, approval.StatusApproved, got.Status)
			assert.Equal(t, approval.SourceTeams, got.ReviewSource)
			assert.Equal(t, tc.want.actor, got.ReviewedBy)
			assert.Equal(t, tc.want.actorID, got.ReviewerID)
			assert.Equal(t, "Approved by "+tc.want.actor+" via Teams", got.ReviewNotes)
			es := f.audit(id)
			require.Len(t, es, 1)
			assert.Equal(t, approval.AuditReviewed, es[0].Action)
			assert.Equal(t, tc.want.actor, es[0].Actor)
			assert.Equal(t, tc.want.actorID, es[0].ActorID)
			assert.Equal(t, tc.want.verified, es[0].Verified)
			assert.Equal(t, approval.SourceTeams, es[0].Source)
			assert.Equal(t, 85, es[0].RiskScore)
		})
	}
}

// TestTeamsCallbackIdentifyBypass is issue 8's defect 2: with Identify
// requiring sign-in, the link flow refused a visitor without a session,
// but a JSON POST carrying the same link token and a from decided, as
// "Mallory (not signed in)". Every path now takes the reviewer from
// Identify.
func TestTeamsCallbackIdentifyBypass(t *testing.T) {
	identify := func(r *http.Request) (approval.Reviewer, bool) {
		c, err := r.Cookie("session")
		if err != nil || c.Value != "jane" {
			return approval.Reviewer{}, false
		}
		return approval.Reviewer{ID: "user-jane", Name: "Jane"}, true
	}
	f := newTeamsFixture(t, func(so *approval.Options, o *approval.TeamsOptions) { withHook(so, o); o.Identify = identify })
	f.create("req-1")
	tok := f.token("req-1", "approve", f.clock().Add(time.Hour))
	mallory := func(token string) string {
		b, _ := json.Marshal(map[string]any{"action": "approve", "approval_id": "req-1", "token": token,
			"from": map[string]string{"id": "29:m", "name": "Mallory (not signed in)"}})
		return string(b)
	}

	require.Equal(t, http.StatusUnauthorized, f.linkGet(tok).Code, "the link flow asks for a session")
	for name, headers := range map[string][]string{
		"bare":                {},
		"with a valid HMAC":   {"Authorization", teamsHMAC(mallory(tok))},
		"with the host's JWT": {"Authorization", "Bearer good"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := f.post(mallory(tok), headers...)
			require.Equal(t, http.StatusUnauthorized, rec.Code, "body: %s", rec.Body)
			assert.Equal(t, "Unauthorized", errorOf(t, rec))
			assert.Equal(t, approval.StatusPending, f.get("req-1").Status, "no decision without the host's identity")
			assert.Empty(t, f.audit("req-1"))
		})
	}
	for _, shape := range []func(action, id, token string) string{teamsMessage, teamsInvoke} {
		rec := f.post(shape("approve", "req-1", tok))
		require.Equal(t, http.StatusUnauthorized, rec.Code, "body: %s", rec.Body)
	}
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status)

	// Signed in, the callback decides as the host's user, whatever from says.
	rec := f.post(mallory(tok), "Cookie", "session=jane")
	require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body)
	got := f.get("req-1")
	assert.Equal(t, "Jane", got.ReviewedBy)
	assert.Equal(t, "user-jane", got.ReviewerID)
	es := f.audit("req-1")
	require.Len(t, es, 1)
	assert.True(t, es[0].Verified)
}

// TestTeamsCallbackOrganisation checks that the token's organisation is
// the one decided in: a token of another organisation finds nothing, and
// the same ID in two organisations is two requests.
func TestTeamsCallbackOrganisation(t *testing.T) {
	f := newTeamsFixture(t, withHook)
	f.create("req-1")
	exp := f.clock().Add(time.Hour)

	rec := f.post(teamsBare("approve", "req-1", f.orgToken("org-2", "req-1", "approve", exp)), "Authorization", "Bearer good")
	require.Equal(t, http.StatusNotFound, rec.Code, "body: %s", rec.Body)
	c := cardOf(t, rec, kindData)
	assert.Equal(t, []string{"Approval request not found"}, c.Texts, "nothing of org-1's request")
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status)

	_, err := f.svc.Create(t.Context(), approval.Request{ID: "req-1", OrgID: "org-2", Title: "Org two's deploy", ExpiresAt: exp})
	require.NoError(t, err)
	rec = f.post(teamsBare("deny", "req-1", f.orgToken("org-2", "req-1", "deny", exp)), "Authorization", "Bearer good")
	require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body)
	assert.Equal(t, "Org two's deploy", cardOf(t, rec, kindData).Texts[0])
	theirs, err := f.store.GetApproval(t.Context(), "org-2", "req-1")
	require.NoError(t, err)
	assert.Equal(t, approval.StatusDenied, theirs.Status)
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status, "org-1's req-1 is another request")
}

// TestTeamsCallbackExpiredToken checks that a stale card decides
// nothing: the request is marked expired once due, and the answer says so.
func TestTeamsCallbackExpiredToken(t *testing.T) {
	f := newTeamsFixture(t, withHook)
	f.create("req-1")
	tok := f.token("req-1", "approve", f.get("req-1").ExpiresAt) // as notify mints it
	f.advance(time.Hour)

	rec := f.post(teamsBare("approve", "req-1", tok), "Authorization", "Bearer good")
	require.Equal(t, http.StatusConflict, rec.Code, "body: %s", rec.Body)
	c := cardOf(t, rec, kindData)
	assert.Equal(t, "warning", c.Style)
	assert.Equal(t, "Approval request has expired", c.Texts[len(c.Texts)-1])
	assert.Equal(t, approval.StatusExpired, f.get("req-1").Status)
	es := f.audit("req-1")
	require.Len(t, es, 1)
	assert.Equal(t, approval.AuditExpired, es[0].Action)

	rec = f.post(teamsInvoke("approve", "req-1", tok), "Authorization", "Bearer good")
	require.Equal(t, http.StatusOK, rec.Code, "an invoke is answered 200")
	assert.Equal(t, "Approval request has expired", cardOf(t, rec, kindInvoke).Texts[1])
	assert.Len(t, f.audit("req-1"), 1, "expired once")

	// Without the host's identity, a stale card does not even expire it.
	f = newTeamsFixture(t, func(_ *approval.Options, o *approval.TeamsOptions) {
		o.Identify = func(*http.Request) (approval.Reviewer, bool) { return approval.Reviewer{}, false }
	})
	f.create("req-1")
	tok = f.token("req-1", "approve", f.get("req-1").ExpiresAt)
	f.advance(time.Hour)
	require.Equal(t, http.StatusUnauthorized, f.post(teamsBare("approve", "req-1", tok)).Code)
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
}

// TestTeamsCallbackRefusalLeaksNothing checks that a 401 names neither
// the reason nor any secret.
func TestTeamsCallbackRefusalLeaksNothing(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	body := teamsBare("approve", "req-1", f.token("req-1", "approve", f.clock().Add(time.Hour)))
	rec := f.post(body, "Authorization", "HMAC AAAA")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.JSONEq(t, `{"error":"Unauthorized"}`, rec.Body.String())
	assert.NotContains(t, rec.Body.String(), teamsHMAC(body)[5:])
}

func TestTeamsCallbackWithoutReviewer(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	tok := f.token("req-1", "approve", f.clock().Add(time.Hour))
	rec := f.post(`{"action":"approve","approval_id":"req-1","token":"` + tok + `"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, errorOf(t, rec), "who clicked")
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
}

func TestTeamsCallbackShapes(t *testing.T) {
	for _, tc := range []struct {
		kind string
		body func(action, id, token string) string
	}{
		{kindData, teamsBare},
		{kindMessage, teamsMessage},
		{kindInvoke, teamsInvoke},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			f := newTeamsFixture(t, nil)
			f.create("req-1")
			rec := f.post(tc.body("approve", "req-1", f.token("req-1", "approve", f.clock().Add(time.Hour))))
			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body)
			c := cardOf(t, rec, tc.kind)
			assert.Equal(t, "AdaptiveCard", c.Type)
			assert.Equal(t, "1.4", c.Version)
			assert.Equal(t, "good", c.Style)
			reviewer := f.get("req-1").ReviewedBy
			assert.NotEmpty(t, reviewer)
			assert.Equal(t, []string{"Deploy payments-api to production", "**APPROVED** by " + reviewer}, c.Texts)
			assert.Equal(t, reviewer, c.Facts["Reviewer"])
			assert.Equal(t, "2026-03-01 12:00 UTC", c.Facts["Time"])
		})
	}
	t.Run("invoke with the action in the verb only", func(t *testing.T) {
		f := newTeamsFixture(t, nil)
		f.create("req-1")
		tok := f.token("req-1", "deny", f.clock().Add(time.Hour))
		body := `{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"type":"Action.Execute","verb":"deny","data":{"approval_id":"req-1","token":"` + tok + `"}}},"from":{"id":"29:1","name":"Jane"}}`
		rec := f.post(body)
		require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body)
		assert.Equal(t, approval.StatusDenied, f.get("req-1").Status)
	})
}

func TestTeamsCallbackOutcomes(t *testing.T) {
	for name, tc := range map[string]struct {
		setup  func(f *teamsFixture) // before the click on req-1
		action string
		id     string
		status int
		style  string
		text   string
		facts  map[string]string
		after  approval.Status
	}{
		"approved": {
			action: "approve", id: "req-1", status: 200, style: "good", text: "**APPROVED** by Jane Doe",
			facts: map[string]string{"Reviewer": "Jane Doe", "Time": "2026-03-01 12:00 UTC"}, after: approval.StatusApproved,
		},
		"denied": {
			action: "deny", id: "req-1", status: 200, style: "attention", text: "**DENIED** by Jane Doe",
			facts: map[string]string{"Reviewer": "Jane Doe", "Time": "2026-03-01 12:00 UTC"}, after: approval.StatusDenied,
		},
		"not found": {
			action: "approve", id: "req-missing", status: 404, style: "warning", text: "Approval request not found",
			facts: map[string]string{}, after: approval.StatusPending,
		},
		"already approved": {
			setup: func(f *teamsFixture) {
				f.advance(time.Minute)
				_, err := f.svc.Review(f.t.Context(), "org-1", "req-1", approval.Approve, approval.Reviewer{Name: "Amy"}, approval.SourceSlack)
				require.NoError(f.t, err)
			},
			action: "deny", id: "req-1", status: 409, style: "warning", text: "Already approved",
			facts: map[string]string{"Reviewer": "Amy", "Time": "2026-03-01 12:01 UTC"}, after: approval.StatusApproved,
		},
		"already denied": {
			setup: func(f *teamsFixture) {
				_, err := f.svc.Review(f.t.Context(), "org-1", "req-1", approval.Deny, approval.Reviewer{Name: "Bob"}, approval.SourceAPI)
				require.NoError(f.t, err)
			},
			action: "approve", id: "req-1", status: 409, style: "warning", text: "Already denied",
			facts: map[string]string{"Reviewer": "Bob", "Time": "2026-03-01 12:00 UTC"}, after: approval.StatusDenied,
		},
		"expired": {
			setup:  func(f *teamsFixture) { f.advance(time.Hour) },
			action: "approve", id: "req-1", status: 409, style: "warning", text: "Approval request has expired",
			facts: map[string]string{}, after: approval.StatusExpired,
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newTeamsFixture(t, nil)
			f.create("req-1")
			if tc.setup != nil {
				tc.setup(f)
			}
			tok := f.token(tc.id, tc.action, teamsT0.Add(2*time.Hour)) // outlives the request
			rec := f.post(teamsBare(tc.action, tc.id, tok))
			require.Equal(t, tc.status, rec.Code, "body: %s", rec.Body)
			c := cardOf(t, rec, kindData)
			assert.Equal(t, tc.style, c.Style)
			require.NotEmpty(t, c.Texts)
			assert.Equal(t, tc.text, c.Texts[len(c.Texts)-1])
			if tc.id == "req-1" {
				assert.Equal(t, "Deploy payments-api to production", c.Texts[0])
			}
			assert.Equal(t, tc.facts, c.Facts)
			assert.Equal(t, tc.after, f.get("req-1").Status)
		})
	}
}

func TestTeamsExpiryIsAudited(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	f.advance(2 * time.Hour)
	rec := f.post(teamsBare("approve", "req-1", f.token("req-1", "approve", teamsT0.Add(3*time.Hour))))
	require.Equal(t, http.StatusConflict, rec.Code)
	es := f.audit("req-1")
	require.Len(t, es, 1)
	assert.Equal(t, approval.AuditExpired, es[0].Action)
}

// TestTeamsInvokeAlways200 checks that an invoke, whose sender shows
// only a 200 reply, gets one, with the outcome in the card; a message
// activity keeps the status.
func TestTeamsInvokeAlways200(t *testing.T) {
	for _, tc := range []struct {
		kind string
		body func(action, id, token string) string
		want int
	}{
		{kindInvoke, teamsInvoke, http.StatusOK},
		{kindMessage, teamsMessage, http.StatusConflict},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			f := newTeamsFixture(t, nil)
			f.create("req-1")
			_, err := f.svc.Review(t.Context(), "org-1", "req-1", approval.Approve, approval.Reviewer{Name: "Amy"}, approval.SourceSlack)
			require.NoError(t, err)
			body := tc.body("deny", "req-1", f.token("req-1", "deny", f.clock().Add(time.Hour)))
			rec := f.post(body, "Authorization", teamsHMAC(body))
			require.Equal(t, tc.want, rec.Code, "body: %s", rec.Body)
			c := cardOf(t, rec, tc.kind)
			assert.Equal(t, "warning", c.Style)
			assert.Equal(t, "Already approved", c.Texts[len(c.Texts)-1])
		})
	}
}

func TestTeamsCallbackNotAllowed(t *testing.T) {
	f := newTeamsFixture(t, func(o *approval.Options, _ *approval.TeamsOptions) {
		o.Policy = func(ctx context.Context, r approval.Request, rv approval.Reviewer, src approval.Source) error {
			return errors.New("not an approver")
		}
	})
	f.create("req-1")
	rec := f.post(teamsBare("approve", "req-1", f.token("req-1", "approve", f.clock().Add(time.Hour))))
	require.Equal(t, http.StatusForbidden, rec.Code)
	c := cardOf(t, rec, kindData)
	assert.Equal(t, "warning", c.Style)
	assert.Equal(t, "You are not allowed to review this request", c.Texts[len(c.Texts)-1])
	assert.NotContains(t, rec.Body.String(), "not an approver", "the policy's own error is not shown")
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
}

func TestTeamsCallbackBadRequests(t *testing.T) {
	for name, tc := range map[string]struct {
		body        string
		contentType string
		status      int
		msg         string
	}{
		"bad JSON":             {`{"action":`, "application/json", 400, "Malformed payload: expected a JSON approval callback"},
		"not an object":        {`["approve"]`, "application/json", 400, "Malformed payload: expected a JSON approval callback"},
		"empty body":           {``, "application/json", 400, "Malformed payload: expected a JSON approval callback"},
		"wrong field type":     {`{"action":"approve","approval_id":7}`, "application/json", 400, "Malformed payload: expected a JSON approval callback"},
		"missing id":           {`{"action":"approve"}`, "application/json", 400, "Missing approval_id"},
		"unknown action":       {`{"action":"escalate","approval_id":"req-1"}`, "application/json", 400, "Unknown action: it must be approve or deny"},
		"verb disagrees":       {`{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"verb":"deny","data":{"action":"approve","approval_id":"req-1"}}}}`, "application/json", 400, "Unknown action: it must be approve or deny"},
		"unsupported invoke":   {`{"type":"invoke","name":"task/fetch","value":{}}`, "application/json", 400, "Unsupported activity: only Action.Submit data, message activities and adaptiveCard/action invokes are accepted"},
		"message without data": {`{"type":"message","text":"<at>Approver</at> approve req-1"}`, "application/json", 400, "Unsupported activity: only Action.Submit data, message activities and adaptiveCard/action invokes are accepted"},
		"message value array":  {`{"type":"message","value":["approve"]}`, "application/json", 400, "Malformed payload: expected a JSON approval callback"},
		"other activity":       {`{"type":"conversationUpdate"}`, "application/json", 400, "Unsupported activity: only Action.Submit data, message activities and adaptiveCard/action invokes are accepted"},
		"no content type":      {`{"action":"approve"}`, "", 400, "Missing approval_id"},
		"charset":              {`{"action":"approve"}`, "application/json; charset=utf-8", 400, "Missing approval_id"},
		"+json":                {`{"action":"approve"}`, "application/vnd.bot+json", 400, "Missing approval_id"},
		"text/plain":           {`{"action":"approve","approval_id":"req-1"}`, "text/plain", 415, "Content-Type must be application/json"},
		"multipart":            {`--x--`, "multipart/form-data; boundary=x", 415, "Content-Type must be application/json"},
		"too large":            {`{"action":"approve","approval_id":"req-1","pad":"` + strings.Repeat("x", 64<<10) + `"}`, "application/json", 413, "Request body is too large"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newTeamsFixture(t, nil)
			f.create("req-1")
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.TeamsInteractionsPath, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, "body: %s", rec.Body)
			assert.Equal(t, tc.msg, errorOf(t, rec))
			assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
		})
	}
}

func TestTeamsMaxBodyBytesOption(t *testing.T) {
	f := newTeamsFixture(t, func(_ *approval.Options, o *approval.TeamsOptions) { o.MaxBodyBytes = 64 })
	f.create("req-1")
	body := teamsBare("approve", "req-1", f.token("req-1", "approve", f.clock().Add(time.Hour)))
	require.Greater(t, len(body), 64)
	rec := f.post(body)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Equal(t, approval.StatusPending, f.get("req-1").Status)
}

func TestTeamsMethodsAndPaths(t *testing.T) {
	f := newTeamsFixture(t, nil)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPut, approval.TeamsInteractionsPath, http.StatusMethodNotAllowed},
		{http.MethodDelete, approval.TeamsInteractionsPath, http.StatusMethodNotAllowed},
		{http.MethodPost, "/v1/webhooks/teams/other", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
	} {
		req := httptest.NewRequestWithContext(t.Context(), tc.method, tc.path, nil)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		assert.Equal(t, tc.status, rec.Code, "%s %s", tc.method, tc.path)
	}
}

// TestTeamsUnderPrefix mounts the handler under /api/ with
// http.StripPrefix and runs a callback and the link flow through it.
func TestTeamsUnderPrefix(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	f.create("req-2")
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", f.h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	body := teamsBare("approve", "req-1", f.token("req-1", "approve", f.clock().Add(time.Hour)))
	resp, err := srv.Client().Post(srv.URL+"/api"+approval.TeamsInteractionsPath, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, approval.StatusApproved, f.get("req-1").Status)

	tok := f.token("req-2", "deny", f.clock().Add(time.Hour))
	link := srv.URL + "/api" + approval.TeamsInteractionsPath + "?token=" + url.QueryEscape(tok)
	resp, err = srv.Client().Get(link)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(page), ">Deny</button>")

	resp, err = srv.Client().PostForm(link, url.Values{"token": {tok}, "name": {"Pat"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, approval.StatusDenied, f.get("req-2").Status)
}

// TestTeamsConcurrentClicks sends the same click from 20 goroutines:
// exactly one decides, the others see "Already approved".
func TestTeamsConcurrentClicks(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	body := teamsBare("approve", "req-1", f.token("req-1", "approve", f.clock().Add(time.Hour)))
	const n = 20
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { codes <- f.post(body).Code })
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	assert.Equal(t, map[int]int{200: 1, 409: n - 1}, count)
	assert.Len(t, f.audit("req-1"), 1)
}

func TestNewTeamsHandlerValidates(t *testing.T) {
	store := newTestStore()
	signer, err := approval.NewSigner([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	svc, err := approval.NewService(store, store, &approval.Options{Signer: signer})
	require.NoError(t, err)
	unsigned, err := approval.NewService(store, store, nil)
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		svc  *approval.Service
		opts *approval.TeamsOptions
		ok   bool
	}{
		"nil service":        {nil, nil, false},
		"service w/o signer": {unsigned, &approval.TeamsOptions{HMACSecret: teamsTestHMACSecret}, false},
		"bad HMAC secret":    {svc, &approval.TeamsOptions{HMACSecret: "not base64!"}, false},
		"short HMAC":         {svc, &approval.TeamsOptions{HMACSecret: "c2hvcnQ="}, false},
		"negative body":      {svc, &approval.TeamsOptions{MaxBodyBytes: -1}, false},
		"nil options":        {svc, nil, true},
		"HMAC":               {svc, &approval.TeamsOptions{HMACSecret: teamsTestHMACSecret}, true},
		"hook": {svc, &approval.TeamsOptions{Authenticate: func(*http.Request, []byte) (approval.Reviewer, error) {
			return approval.Reviewer{}, nil
		}}, true},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := approval.NewTeamsHandler(tc.svc, tc.opts)
			if tc.ok {
				require.NoError(t, err)
				assert.NotNil(t, h)
				return
			}
			require.Error(t, err)
			assert.Nil(t, h)
			assert.NotContains(t, err.Error(), "not base64!")
		})
	}
}

func TestTeamsCallbackCleansFromName(t *testing.T) {
	f := newTeamsFixture(t, nil)
	f.create("req-1")
	tok := f.token("req-1", "approve", f.clock().Add(time.Hour))
	body, err := json.Marshal(map[string]any{
		"action": "approve", "approval_id": "req-1", "token": tok,
		"from": map[string]string{"id": "29:x", "name": "  Eve\u202e  " + strings.Repeat("v", 200)},
	})
	require.NoError(t, err)
	rec := f.post(string(body))
	require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body)
	got := f.get("req-1").ReviewedBy
	assert.Equal(t, "Eve "+strings.Repeat("v", 100-4), got)
}

// TestTeamsLogsNoSecrets refuses callbacks and links carrying tokens and
// HMACs, and checks that the log says why without quoting them.
func TestTeamsLogsNoSecrets(t *testing.T) {
	var logs bytes.Buffer
	f := newTeamsFixture(t, func(_ *approval.Options, o *approval.TeamsOptions) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	f.create("req-1")
	wrongAction := f.token("req-1", "deny", f.clock().Add(time.Hour))
	expired := f.token("req-1", "approve", f.clock())
	body := teamsBare("approve", "req-1", wrongAction)
	mac := teamsHMAC(body + " ")
	require.Equal(t, http.StatusUnauthorized, f.post(body, "Authorization", mac).Code)
	require.Equal(t, http.StatusGone, f.linkGet(expired).Code)
	require.Equal(t, http.StatusUnauthorized, f.linkGet(wrongAction+"x").Code)
	good := teamsBare("deny", "req-1", wrongAction)
	require.Equal(t, http.StatusUnauthorized, f.post(good, "Authorization", mac).Code)

	out := logs.String()
	assert.Contains(t, out, "callback refused")
	assert.Contains(t, out, "action token is for another approval or action")
	assert.Contains(t, out, "invalid HMAC")
	assert.Contains(t, out, "expired link")
	for _, secret := range []string{wrongAction, expired, strings.TrimPrefix(mac, "HMAC "), teamsTestHMACSecret} {
		assert.NotContains(t, out, secret)
	}
}

// A Teams click proven by the action token its card carried.
func ExampleNewTeamsHandler() {
	store := newTestStore()                                                     // in a host: store/memstore, store/sqlite, store/postgres
	signer, _ := approval.NewSigner([]byte("0123456789abcdef0123456789abcdef")) // use 32 random bytes
	svc, _ := approval.NewService(store, store, &approval.Options{Signer: signer})
	h, err := approval.NewTeamsHandler(svc, nil)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(approval.TeamsInteractionsPath, h)

	r, _ := svc.Create(context.Background(), approval.Request{OrgID: "acme", Title: "Deploy to production", RiskScore: 70})
	// What the card's Approve button carries (notify renders it).
	token := signer.Sign(approval.ActionClaims{OrgID: r.OrgID, ApprovalID: r.ID, Decision: approval.Approve, ExpiresAt: r.ExpiresAt})
	body := `{"action":"approve","approval_id":"` + r.ID + `","token":"` + token + `","from":{"id":"29:1","name":"Jane Doe"}}`

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, approval.TeamsInteractionsPath, strings.NewReader(body)))
	var card struct {
		Body []struct {
			Style string `json:"style"`
			Items []struct {
				Text string `json:"text"`
			} `json:"items"`
		} `json:"body"`
	}
	json.Unmarshal(rec.Body.Bytes(), &card)
	fmt.Println(rec.Code, card.Body[0].Style, card.Body[0].Items[1].Text)

	// A second click on the same card changes nothing.
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, approval.TeamsInteractionsPath, strings.NewReader(body)))
	json.Unmarshal(rec.Body.Bytes(), &card)
	fmt.Println(rec.Code, card.Body[0].Style, card.Body[0].Items[1].Text)
	// Output:
	// 200 good **APPROVED** by Jane Doe
	// 409 warning Already approved
}
