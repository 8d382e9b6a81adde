package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// Tests of the example host's own endpoints (api.go, auth.go) through
// its real handler, over HTTP, with fake Slack and Teams behind it.

const (
	testAdminToken  = "admin-token-0123456789abcdef"
	testViewerToken = "viewer-token-0123456789abcdef"
	testSigning     = "8f742231b10e8888abcd99yyyzzz85a5"
	testActionKey   = "action-token-secret-of-at-least-32-bytes!"
	testBotToken    = "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx"
)

// The Slack action IDs of the Approve and Deny buttons (the spec's).
const (
	approveAction = "approve_action"
	denyAction    = "deny_action"
)

// testHost is the example app behind an httptest server, with a fake
// Slack and Teams to deliver to.
type testHost struct {
	app  *app
	url  string
	fake *notifytest.Server
}

// newTestHost starts the app configured as its environment would:
// in memory, admin and viewer tokens, Slack's API on the fake, loopback
// URLs allowed, a signing secret, an action token secret and PUBLIC_URL
// the test server's URL. env overrides or adds variables.
func newTestHost(t *testing.T, env map[string]string) *testHost {
	t.Helper()
	return newTestHostLogging(t, env, slog.New(slog.DiscardHandler))
}

// newTestHostLogging is newTestHost with the app logging to logger.
func newTestHostLogging(t *testing.T, env map[string]string, logger *slog.Logger) *testHost {
	t.Helper()
	fake := notifytest.New()
	t.Cleanup(fake.Close)

	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	vars := map[string]string{
		"DATABASE_URL":         "memory:",
		"ADMIN_TOKEN":          testAdminToken,
		"VIEWER_TOKEN":         testViewerToken,
		"SLACK_API_URL":        fake.SlackAPIURL(),
		"ALLOW_INSECURE_URLS":  "1",
		"SLACK_SIGNING_SECRET": testSigning,
		"ACTION_TOKEN_SECRET":  testActionKey,
		"PUBLIC_URL":           base,
	}
	maps.Copy(vars, env)
	cfg := loadConfig(func(k string) string { return vars[k] })
	a, err := newApp(t.Context(), cfg, logger)
	if err != nil {
		srv.Close()
		require.NoError(t, err)
	}
	srv.Config.Handler = a
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, a.Close(ctx), "closing the app")
	})
	return &testHost{app: a, url: base, fake: fake}
}

// requests returns the requests the fake received of one method
// ("chat.postMessage", "webhook", "teams", …; "" for all), in order.
func (h *testHost) requests(method string) []notifytest.Request {
	var out []notifytest.Request
	for _, r := range h.fake.Requests() {
		if method == "" || r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// reply is an answer of the host.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// decode decodes the JSON body into v.
func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body %s", r.Body)
}

// errorText returns the "error" of a {"error": "…"} body.
func (r reply) errorText(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	r.decode(t, &e)
	return e.Error
}

// send makes a request with the given token ("" for none), Content-Type
// and raw body.
func (h *testHost) send(t *testing.T, method, path, token, contentType string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.url+path, body)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// call sends body (when not nil) as JSON with token.
func (h *testHost) call(t *testing.T, method, path, token string, body any) reply {
	t.Helper()
	if body == nil {
		return h.send(t, method, path, token, "", nil)
	}
	b, err := json.Marshal(body)
	require.NoError(t, err)
	return h.send(t, method, path, token, "application/json", bytes.NewReader(b))
}

// admin sends body as JSON with the admin token.
func (h *testHost) admin(t *testing.T, method, path string, body any) reply {
	t.Helper()
	return h.call(t, method, path, testAdminToken, body)
}

// createChannel creates a channel through the settings API and returns
// its ID.
func (h *testHost) createChannel(t *testing.T, body map[string]any) string {
	t.Helper()
	r := h.admin(t, "POST", "/v1/settings/notifications", body)
	require.Equal(t, http.StatusCreated, r.Status, "creating a channel: %s", r.Body)
	var ch struct{ ID string }
	r.decode(t, &ch)
	require.NotEmpty(t, ch.ID)
	return ch.ID
}

// botChannel creates a Slack bot channel posting to slackChannel.
func (h *testHost) botChannel(t *testing.T, name, slackChannel string) string {
	t.Helper()
	return h.createChannel(t, map[string]any{
		"channel_type": "slack", "name": name,
		"config": map[string]any{"bot_token": testBotToken, "channel_id": slackChannel},
	})
}

// webhookChannel creates a Slack incoming-webhook channel on the fake.
func (h *testHost) webhookChannel(t *testing.T, name, hook string) string {
	t.Helper()
	return h.createChannel(t, map[string]any{
		"channel_type": "slack", "name": name,
		"config": map[string]any{"webhook_url": h.fake.SlackWebhookURL(hook)},
	})
}

// teamsChannel creates a Teams channel on the fake's Workflows URL hook.
func (h *testHost) teamsChannel(t *testing.T, name, hook string) string {
	t.Helper()
	return h.createChannel(t, map[string]any{
		"channel_type": "teams", "name": name,
		"config": map[string]any{"webhook_url": h.fake.TeamsWorkflowsURL(hook)},
	})
}

// createApproval creates an approval request and returns it.
func (h *testHost) createApproval(t *testing.T, body map[string]any) approval.Request {
	t.Helper()
	r := h.admin(t, "POST", "/v1/approvals", body)
	require.Equal(t, http.StatusCreated, r.Status, "creating an approval: %s", r.Body)
	var req approval.Request
	r.decode(t, &req)
	return req
}

// getApproval reads an approval request with the admin token.
func (h *testHost) getApproval(t *testing.T, id string) approval.Request {
	t.Helper()
	r := h.admin(t, "GET", "/v1/approvals/"+id, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var req approval.Request
	r.decode(t, &req)
	return req
}

// audit reads the audit trail with the given query.
func (h *testHost) audit(t *testing.T, query string) []approval.AuditEntry {
	t.Helper()
	r := h.admin(t, "GET", "/v1/audit"+query, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var out struct {
		Entries []approval.AuditEntry `json:"entries"`
	}
	r.decode(t, &out)
	return out.Entries
}

func TestAPIAuthentication(t *testing.T) {
	h := newTestHost(t, nil)
	pending := h.createApproval(t, map[string]any{"title": "Rotate keys"})

	endpoints := []struct {
		method, path string
		body         any
		adminOnly    bool
	}{
		{"POST", "/v1/approvals", map[string]any{"title": "x"}, true},
		{"GET", "/v1/approvals/" + pending.ID, nil, false},
		{"POST", "/v1/approvals/" + pending.ID + "/decision", map[string]any{"decision": "deny"}, false},
		{"GET", "/v1/audit", nil, true},
		{"POST", "/v1/events", map[string]any{"type": "agent_status", "agent": "a", "status": "deployed"}, true},
		{"GET", "/v1/settings/notifications", nil, true},
	}
	for _, ep := range endpoints {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			for _, tc := range []struct {
				name, authorization string
			}{
				{"no Authorization", ""},
				{"wrong token", "Bearer not-the-token"},
				{"empty bearer", "Bearer "},
				{"token without scheme", testAdminToken},
				{"Basic scheme", "Basic " + testAdminToken},
				{"token prefix", "Bearer " + testAdminToken[:len(testAdminToken)-1]},
				{"token with a suffix", "Bearer " + testAdminToken + "x"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var body io.Reader
					if ep.body != nil {
						b, _ := json.Marshal(ep.body)
						body = bytes.NewReader(b)
					}
					req, err := http.NewRequestWithContext(t.Context(), ep.method, h.url+ep.path, body)
					require.NoError(t, err)
					req.Header.Set("Content-Type", "application/json")
					if tc.authorization != "" {
						req.Header.Set("Authorization", tc.authorization)
					}
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", b)
					assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
					assert.JSONEq(t, `{"error":"authentication required"}`, string(b))
					if !strings.HasPrefix(ep.path, "/v1/settings/") {
						assert.Equal(t, `Bearer realm="chatnotify"`, resp.Header.Get("WWW-Authenticate"))
					}
				})
			}
			if ep.adminOnly {
				t.Run("viewer is forbidden", func(t *testing.T) {
					r := h.call(t, ep.method, ep.path, testViewerToken, ep.body)
					assert.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
					assert.Contains(t, r.errorText(t), "admin role")
				})
			}
		})
	}

	// Nothing above changed the request.
	assert.Equal(t, approval.StatusPending, h.getApproval(t, pending.ID).Status)
	assert.Empty(t, h.audit(t, ""))

	t.Run("the scheme is case-insensitive", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", h.url+"/v1/audit", nil)
		req.Header.Set("Authorization", "bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("viewer may read an approval", func(t *testing.T) {
		r := h.call(t, "GET", "/v1/approvals/"+pending.ID, testViewerToken, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var got approval.Request
		r.decode(t, &got)
		assert.Equal(t, pending.ID, got.ID)
	})

	t.Run("viewer may decide", func(t *testing.T) {
		r := h.call(t, "POST", "/v1/approvals/"+pending.ID+"/decision", testViewerToken, map[string]any{"decision": "deny"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var got approval.Request
		r.decode(t, &got)
		assert.Equal(t, approval.StatusDenied, got.Status)
		assert.Equal(t, "viewer", got.ReviewedBy)
		assert.Equal(t, "Denied by viewer via API", got.ReviewNotes)
	})

	t.Run("without VIEWER_TOKEN there is no viewer", func(t *testing.T) {
		h := newTestHost(t, map[string]string{"VIEWER_TOKEN": ""})
		r := h.call(t, "GET", "/v1/audit", testViewerToken, nil)
		assert.Equal(t, http.StatusUnauthorized, r.Status)
	})
}

func TestHealthz(t *testing.T) {
	h := newTestHost(t, nil)
	r := h.send(t, "GET", "/healthz", "", "", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "ok\n", string(r.Body))
}

func TestCreateApproval(t *testing.T) {
	h := newTestHost(t, nil)

	t.Run("201 with Location and the stored request", func(t *testing.T) {
		before := time.Now()
		r := h.admin(t, "POST", "/v1/approvals", map[string]any{
			"id": "req-42", "title": "  Delete production backups  ", "description": "Frees 2 TB",
			"agent": "cleanup-bot", "action": "s3:DeleteObject", "risk_score": 82,
			"requested_by": "ci@example.com", "console_url": "https://console.example/approvals/req-42",
			"expires_in_seconds": 3600,
		})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		assert.Equal(t, "/v1/approvals/req-42", r.Header.Get("Location"))
		assert.Empty(t, r.Header.Get("X-Delivery-Error"))
		var got approval.Request
		r.decode(t, &got)
		assert.Equal(t, "req-42", got.ID)
		assert.Equal(t, defaultOrg, got.OrgID)
		assert.Equal(t, "Delete production backups", got.Title, "the title is trimmed")
		assert.Equal(t, "Frees 2 TB", got.Description)
		assert.Equal(t, "cleanup-bot", got.Agent)
		assert.Equal(t, "s3:DeleteObject", got.Action)
		assert.Equal(t, 82, got.RiskScore)
		assert.Equal(t, "ci@example.com", got.RequestedBy)
		assert.Equal(t, "https://console.example/approvals/req-42", got.ConsoleURL)
		assert.Equal(t, approval.StatusPending, got.Status)
		assert.WithinRange(t, got.ExpiresAt, before.Add(time.Hour-time.Second), time.Now().Add(time.Hour+time.Second))
		assert.Nil(t, got.ReviewedAt)

		assert.Equal(t, got, h.getApproval(t, "req-42"), "GET returns what POST answered")
	})

	t.Run("generates an ID when none is given", func(t *testing.T) {
		a := h.createApproval(t, map[string]any{"title": "First"})
		b := h.createApproval(t, map[string]any{"title": "First"})
		assert.Regexp(t, approvalIDPattern, a.ID)
		assert.NotEqual(t, a.ID, b.ID, "two requests without an ID are two requests")
		r := h.admin(t, "GET", "/v1/approvals/"+a.ID, nil)
		assert.Equal(t, http.StatusOK, r.Status)
	})

	t.Run("expires_in_seconds 0 means never", func(t *testing.T) {
		got := h.createApproval(t, map[string]any{"title": "Forever", "expires_in_seconds": 0})
		assert.True(t, got.ExpiresAt.IsZero())
		r := h.admin(t, "GET", "/v1/approvals/"+got.ID, nil)
		assert.NotContains(t, string(r.Body), "expires_at")
	})

	t.Run("expires_in_seconds of 30 days is allowed", func(t *testing.T) {
		got := h.createApproval(t, map[string]any{"title": "Long", "expires_in_seconds": 2592000})
		assert.WithinDuration(t, time.Now().Add(30*24*time.Hour), got.ExpiresAt, time.Minute)
	})

	t.Run("a 128-character ID is allowed", func(t *testing.T) {
		id := "A" + strings.Repeat("b.c_d:e-", 15) + "1234567"
		require.Len(t, id, 128)
		got := h.createApproval(t, map[string]any{"id": id, "title": "Long ID"})
		assert.Equal(t, id, got.ID)
	})

	const idMessage = "id must be 1 to 128 letters, digits, '.', '_', ':' or '-'"
	const expiryMessage = "expires_in_seconds must be between 0 (never) and 2592000 (30 days)"
	for _, tc := range []struct {
		name   string
		body   string
		status int
		error  string
	}{
		{"ID with a space", `{"id":"req 1","title":"t"}`, 400, idMessage},
		{"ID with a slash", `{"id":"a/b","title":"t"}`, 400, idMessage},
		{"ID starting with a dash", `{"id":"-a","title":"t"}`, 400, idMessage},
		{"ID starting with a dot", `{"id":".a","title":"t"}`, 400, idMessage},
		{"ID with a non-ASCII letter", `{"id":"ré","title":"t"}`, 400, idMessage},
		{"ID of 129 characters", `{"id":"` + strings.Repeat("a", 129) + `","title":"t"}`, 400, idMessage},
		{"negative expiry", `{"title":"t","expires_in_seconds":-1}`, 400, expiryMessage},
		{"expiry over 30 days", `{"title":"t","expires_in_seconds":2592001}`, 400, expiryMessage},
		// 18446744074 s × 1e9 wraps around int64 to about 0.29 s: the
		// bound must be checked in seconds, before any multiplication.
		{"expiry that overflows a Duration", `{"title":"t","expires_in_seconds":18446744074}`, 400, expiryMessage},
		{"huge expiry", `{"title":"t","expires_in_seconds":9223372036854775807}`, 400, expiryMessage},
		{"console_url not http", `{"title":"t","console_url":"javascript:alert(1)"}`, 400, "console_url must be an http or https URL"},
		{"no title", `{"risk_score":10}`, 400, "title is required"},
		{"blank title", `{"title":"   "}`, 400, "title is required"},
		{"title too long", `{"title":"` + strings.Repeat("x", 201) + `"}`, 400, "title must be at most 200 characters"},
		{"risk over 100", `{"title":"t","risk_score":101}`, 400, "risk_score must be between 0 and 100"},
		{"negative risk", `{"title":"t","risk_score":-1}`, 400, "risk_score must be between 0 and 100"},
		{"risk not a number", `{"title":"t","risk_score":"high"}`, 400, `field "risk_score" must be a number`},
		{"unknown field", `{"title":"t","status":"approved"}`, 400, `unknown field "status"`},
		{"not an object", `["title"]`, 400, "request body must be a JSON object"},
		{"empty body", ``, 400, "request body must be a JSON object"},
		{"malformed JSON", `{"title":`, 400, "malformed JSON: unexpected end of input"},
		{"two objects", `{"title":"a"}{"title":"b"}`, 400, "request body must hold a single JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.send(t, "POST", "/v1/approvals", testAdminToken, "application/json", strings.NewReader(tc.body))
			assert.Equal(t, tc.status, r.Status, "%s", r.Body)
			msg := r.errorText(t)
			assert.Equal(t, tc.error, msg)
			assert.NotContains(t, msg, "approval:", "no package prefix in a client message")
			assert.Empty(t, r.Header.Get("Location"))
		})
	}

	t.Run("wrong Content-Type is 415", func(t *testing.T) {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
			r := h.send(t, "POST", "/v1/approvals", testAdminToken, ct, strings.NewReader(`{"title":"t"}`))
			assert.Equal(t, http.StatusUnsupportedMediaType, r.Status, ct)
			assert.Equal(t, "Content-Type must be application/json", r.errorText(t))
		}
		r := h.send(t, "POST", "/v1/approvals", testAdminToken, "application/json; charset=utf-8", strings.NewReader(`{"title":"t"}`))
		assert.Equal(t, http.StatusCreated, r.Status, "a charset parameter is fine")
	})

	t.Run("oversized body is 413", func(t *testing.T) {
		body := `{"title":"t","description":"` + strings.Repeat("x", 64<<10) + `"}`
		r := h.send(t, "POST", "/v1/approvals", testAdminToken, "application/json", strings.NewReader(body))
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
		assert.Contains(t, r.errorText(t), "larger than")
	})

	t.Run("nothing invalid was stored", func(t *testing.T) {
		for _, id := range []string{"req 1", "a%2Fb", "-a"} {
			r := h.admin(t, "GET", "/v1/approvals/"+id, nil)
			assert.Equal(t, http.StatusNotFound, r.Status, id)
		}
	})
}

func TestCreateApprovalIsIdempotent(t *testing.T) {
	h := newTestHost(t, nil)
	h.botChannel(t, "Approvals", "C0IDEMPOT1")
	body := map[string]any{
		"id": "deploy-7", "title": "Deploy v7", "agent": "deployer", "action": "k8s:apply",
		"risk_score": 40, "requested_by": "ci", "expires_in_seconds": 600,
	}
	first := h.admin(t, "POST", "/v1/approvals", body)
	require.Equal(t, http.StatusCreated, first.Status, "%s", first.Body)
	var created approval.Request
	first.decode(t, &created)

	t.Run("the same request again is 200 with the stored one", func(t *testing.T) {
		retry := h.admin(t, "POST", "/v1/approvals", body)
		require.Equal(t, http.StatusOK, retry.Status, "%s", retry.Body)
		assert.Equal(t, "/v1/approvals/deploy-7", retry.Header.Get("Location"))
		var got approval.Request
		retry.decode(t, &got)
		assert.Equal(t, created, got, "the stored request, deadline included, not a new one")
	})

	t.Run("different content under the same ID is 409", func(t *testing.T) {
		for field, v := range map[string]any{
			"title": "Deploy v8", "risk_score": 41, "agent": "other", "action": "k8s:delete",
			"requested_by": "someone", "description": "more", "console_url": "https://console.example/x",
		} {
			changed := maps.Clone(body)
			changed[field] = v
			r := h.admin(t, "POST", "/v1/approvals", changed)
			assert.Equal(t, http.StatusConflict, r.Status, "%s changed: %s", field, r.Body)
			assert.Equal(t, "an approval request with this id already exists", r.errorText(t))
		}
		assert.Equal(t, created, h.getApproval(t, "deploy-7"), "the stored request is unchanged")
	})

	t.Run("only one notification went out", func(t *testing.T) {
		// Close drains the delivery queue: whatever the create and its
		// retries queued has been sent once it returns.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.app.dispatcher.Close(ctx))
		posts := h.requests("chat.postMessage")
		require.Len(t, posts, 1, "%+v", h.fake.Requests())
		req := posts[0]
		assert.Equal(t, "C0IDEMPOT1", req.Channel)
		assert.Equal(t, http.StatusOK, req.Answer)
		var values []string
		for _, b := range req.Buttons {
			values = append(values, b.Value)
		}
		assert.Contains(t, values, "deploy-7")
	})
}

func TestGetApproval(t *testing.T) {
	h := newTestHost(t, nil)
	created := h.createApproval(t, map[string]any{"id": "get-1", "title": "Read me", "risk_score": 5})

	t.Run("found", func(t *testing.T) {
		r := h.admin(t, "GET", "/v1/approvals/get-1", nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		var got approval.Request
		r.decode(t, &got)
		assert.Equal(t, created, got)
	})
	t.Run("unknown is 404", func(t *testing.T) {
		r := h.admin(t, "GET", "/v1/approvals/nope", nil)
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, "Approval request not found", r.errorText(t))
	})
	t.Run("another organisation's request is 404", func(t *testing.T) {
		_, err := h.app.store.CreateApproval(t.Context(), approval.Request{
			ID: "foreign-1", OrgID: "other-org", Title: "Not yours", Status: approval.StatusPending, CreatedAt: time.Now(),
		})
		require.NoError(t, err)
		r := h.admin(t, "GET", "/v1/approvals/foreign-1", nil)
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, "Approval request not found", r.errorText(t))
		assert.NotContains(t, string(r.Body), "Not yours")
	})
}

func TestDecideApproval(t *testing.T) {
	h := newTestHost(t, nil)
	decide := func(t *testing.T, id string, body any) reply {
		t.Helper()
		return h.admin(t, "POST", "/v1/approvals/"+id+"/decision", body)
	}

	t.Run("approve", func(t *testing.T) {
		h.createApproval(t, map[string]any{"id": "dec-1", "title": "Approve me", "risk_score": 70})
		r := decide(t, "dec-1", map[string]any{"decision": "approve"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var got approval.Request
		r.decode(t, &got)
		assert.Equal(t, approval.StatusApproved, got.Status)
		assert.Equal(t, "Approved by admin via API", got.ReviewNotes)
		assert.Equal(t, approval.SourceAPI, got.ReviewSource)
		assert.Equal(t, "admin", got.ReviewedBy)
		require.NotNil(t, got.ReviewedAt)
		assert.WithinDuration(t, time.Now(), *got.ReviewedAt, time.Minute)
		assert.Contains(t, string(r.Body), `"review_source":"api"`)
		assert.Equal(t, got, h.getApproval(t, "dec-1"))

		entries := h.audit(t, "?approval_id=dec-1")
		require.Len(t, entries, 1)
		e := entries[0]
		assert.Equal(t, approval.AuditReviewed, e.Action)
		assert.Equal(t, "admin", e.Actor)
		assert.True(t, e.Verified, "the API caller is authenticated")
		assert.Equal(t, approval.SourceAPI, e.Source)
		assert.Equal(t, approval.StatusApproved, e.Decision)
		assert.Equal(t, 70, e.RiskScore)
	})

	t.Run("a second decision is 409", func(t *testing.T) {
		for _, d := range []string{"approve", "deny"} {
			r := decide(t, "dec-1", map[string]any{"decision": d})
			assert.Equal(t, http.StatusConflict, r.Status)
			assert.Equal(t, "Already approved", r.errorText(t))
		}
		assert.Len(t, h.audit(t, "?approval_id=dec-1"), 1, "refused decisions are not audited")
	})

	t.Run("deny, then Already denied", func(t *testing.T) {
		h.createApproval(t, map[string]any{"id": "dec-2", "title": "Deny me"})
		r := decide(t, "dec-2", map[string]any{"decision": "deny"})
		require.Equal(t, http.StatusOK, r.Status)
		var got approval.Request
		r.decode(t, &got)
		assert.Equal(t, approval.StatusDenied, got.Status)
		assert.Equal(t, "Denied by admin via API", got.ReviewNotes)
		r = decide(t, "dec-2", map[string]any{"decision": "approve"})
		assert.Equal(t, http.StatusConflict, r.Status)
		assert.Equal(t, "Already denied", r.errorText(t))
	})

	t.Run("past its deadline is 409 and marked expired", func(t *testing.T) {
		past := time.Now().Add(-time.Minute)
		_, err := h.app.store.CreateApproval(t.Context(), approval.Request{
			ID: "dec-old", OrgID: defaultOrg, Title: "Too late", Status: approval.StatusPending,
			CreatedAt: past.Add(-time.Hour), ExpiresAt: past,
		})
		require.NoError(t, err)
		r := decide(t, "dec-old", map[string]any{"decision": "approve"})
		assert.Equal(t, http.StatusConflict, r.Status)
		assert.Equal(t, "Approval request has expired", r.errorText(t))
		assert.Equal(t, approval.StatusExpired, h.getApproval(t, "dec-old").Status)
		entries := h.audit(t, "?approval_id=dec-old")
		require.Len(t, entries, 1)
		assert.Equal(t, approval.AuditExpired, entries[0].Action)
		r = decide(t, "dec-old", map[string]any{"decision": "deny"})
		assert.Equal(t, http.StatusConflict, r.Status)
		assert.Equal(t, "Approval request has expired", r.errorText(t))
	})

	h.createApproval(t, map[string]any{"id": "dec-3", "title": "Stays pending"})
	for _, tc := range []struct {
		name, id, body string
		status         int
		error          string
	}{
		{"unknown decision", "dec-3", `{"decision":"maybe"}`, 400, `decision must be "approve" or "deny"`},
		{"capitalised decision", "dec-3", `{"decision":"Approve"}`, 400, `decision must be "approve" or "deny"`},
		{"no decision", "dec-3", `{}`, 400, `decision must be "approve" or "deny"`},
		{"empty body", "dec-3", ``, 400, "request body must be a JSON object"},
		{"unknown field", "dec-3", `{"decision":"approve","reviewer":"mallory"}`, 400, `unknown field "reviewer"`},
		{"unknown ID", "nope", `{"decision":"approve"}`, 404, "Approval request not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.send(t, "POST", "/v1/approvals/"+tc.id+"/decision", testAdminToken, "application/json", strings.NewReader(tc.body))
			assert.Equal(t, tc.status, r.Status, "%s", r.Body)
			assert.Equal(t, tc.error, r.errorText(t))
		})
	}
	t.Run("wrong Content-Type is 415", func(t *testing.T) {
		r := h.send(t, "POST", "/v1/approvals/dec-3/decision", testAdminToken, "text/plain", strings.NewReader(`{"decision":"approve"}`))
		assert.Equal(t, http.StatusUnsupportedMediaType, r.Status)
	})
	t.Run("another organisation's request is 404 and stays pending", func(t *testing.T) {
		_, err := h.app.store.CreateApproval(t.Context(), approval.Request{
			ID: "foreign-2", OrgID: "other-org", Title: "Not yours", Status: approval.StatusPending, CreatedAt: time.Now(),
		})
		require.NoError(t, err)
		r := decide(t, "foreign-2", map[string]any{"decision": "approve"})
		assert.Equal(t, http.StatusNotFound, r.Status)
		got, err := h.app.store.GetApproval(t.Context(), "other-org", "foreign-2")
		require.NoError(t, err)
		assert.Equal(t, approval.StatusPending, got.Status)
	})
	assert.Equal(t, approval.StatusPending, h.getApproval(t, "dec-3").Status, "refused decisions changed nothing")
}

func TestAudit(t *testing.T) {
	h := newTestHost(t, nil)
	ids := []string{"aud-1", "aud-2", "aud-3"}
	for i, id := range ids {
		h.createApproval(t, map[string]any{"id": id, "title": "Audit " + id, "risk_score": 10 * (i + 1)})
		r := h.admin(t, "POST", "/v1/approvals/"+id+"/decision", map[string]any{"decision": []string{"approve", "deny", "approve"}[i]})
		require.Equal(t, http.StatusOK, r.Status)
	}
	// Another organisation's entry must not show.
	require.NoError(t, h.app.store.LogAudit(t.Context(), approval.AuditEntry{
		OrgID: "other-org", Action: approval.AuditReviewed, ApprovalID: "foreign", At: time.Now().Add(time.Hour),
		Actor: "mallory", Source: approval.SourceAPI, Decision: approval.StatusApproved,
	}))

	t.Run("newest first", func(t *testing.T) {
		entries := h.audit(t, "")
		require.Len(t, entries, 3)
		var got []string
		for _, e := range entries {
			got = append(got, e.ApprovalID)
			assert.Equal(t, defaultOrg, e.OrgID)
			assert.NotEqual(t, "mallory", e.Actor)
		}
		assert.Equal(t, []string{"aud-3", "aud-2", "aud-1"}, got)
		assert.Equal(t, approval.StatusDenied, entries[1].Decision)
		assert.Equal(t, 20, entries[1].RiskScore)
		assert.Equal(t, approval.SourceAPI, entries[1].Source)
		assert.Equal(t, "admin", entries[1].Actor)
	})
	t.Run("filtered by approval_id", func(t *testing.T) {
		entries := h.audit(t, "?approval_id=aud-2")
		require.Len(t, entries, 1)
		assert.Equal(t, "aud-2", entries[0].ApprovalID)
		assert.Empty(t, h.audit(t, "?approval_id=nope"))
		assert.Empty(t, h.audit(t, "?approval_id=foreign"), "another organisation's entries")
	})
	t.Run("an empty trail is an empty list", func(t *testing.T) {
		r := h.admin(t, "GET", "/v1/audit?approval_id=nope", nil)
		assert.JSONEq(t, `{"entries":[]}`, string(r.Body))
	})
	t.Run("limit", func(t *testing.T) {
		entries := h.audit(t, "?limit=2")
		require.Len(t, entries, 2)
		assert.Equal(t, "aud-3", entries[0].ApprovalID)
		assert.Equal(t, "aud-2", entries[1].ApprovalID)
		assert.Len(t, h.audit(t, "?limit=1"), 1)
		assert.Len(t, h.audit(t, "?limit=1000"), 3)
	})
	for _, l := range []string{"0", "-1", "1001", "abc", "1.5"} {
		t.Run("limit="+l+" is 400", func(t *testing.T) {
			r := h.admin(t, "GET", "/v1/audit?limit="+l, nil)
			assert.Equal(t, http.StatusBadRequest, r.Status)
			assert.Equal(t, "limit must be between 1 and 1000", r.errorText(t))
		})
	}
	t.Run("empty limit means the default", func(t *testing.T) {
		assert.Len(t, h.audit(t, "?limit="), 3)
	})
}

func TestEvents(t *testing.T) {
	var logs syncbuf.Buffer
	h := newTestHostLogging(t, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	bot := h.botChannel(t, "Ops Slack", "C0EVENTS01")
	teams := h.teamsChannel(t, "Ops Teams", "ops")
	h.createChannel(t, map[string]any{
		"channel_type": "slack", "name": "Approvals only",
		"config": map[string]any{"bot_token": testBotToken, "channel_id": "C0APPROVE1"},
		"events": []string{"approval_request"},
	})
	teamsPath := urlPath(h.fake.TeamsWorkflowsURL("ops"))

	post := func(t *testing.T, body string) reply {
		t.Helper()
		return h.send(t, "POST", "/v1/events", testAdminToken, "application/json", strings.NewReader(body))
	}
	// delivered waits for the messages of the event mentioning text on
	// the Slack bot channel and the Teams channel, and checks that no
	// other channel got it.
	delivered := func(t *testing.T, text string) (notifytest.Request, notifytest.Request) {
		t.Helper()
		var slackMsg, teamsMsg notifytest.Request
		eventually(t, "the event on Slack and Teams", func() bool {
			for _, r := range h.fake.Requests() {
				switch {
				case r.Method == "chat.postMessage" && r.Answer == http.StatusOK && strings.Contains(r.AllText, text):
					slackMsg = r
				case r.Path == teamsPath && r.Answer/100 == 2 && strings.Contains(r.AllText, text):
					teamsMsg = r
				}
			}
			return slackMsg.Method != "" && teamsMsg.Method != ""
		})
		for _, r := range h.requests("chat.postMessage") {
			assert.Equal(t, "C0EVENTS01", r.Channel, "only subscribed channels get the event")
		}
		return slackMsg, teamsMsg
	}

	t.Run("drift_alert is queued and delivered to subscribed channels", func(t *testing.T) {
		h.fake.Reset()
		r := post(t, `{"type":"drift_alert","resource":"s3://prod-backups","expected":"versioning on","actual":"versioning off","severity":"high"}`)
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		assert.JSONEq(t, `{"status":"queued"}`, string(r.Body))
		slackMsg, _ := delivered(t, "s3://prod-backups")
		assert.Equal(t, testBotToken, slackMsg.Token)
		eventually(t, "the delivery log lines", func() bool {
			return strings.Contains(logs.String(), "channel_id="+bot) && strings.Contains(logs.String(), "channel_id="+teams)
		})
		for l := range strings.Lines(logs.String()) {
			assert.NotContains(t, l, testBotToken)
			assert.NotContains(t, l, "sig=")
		}
	})

	t.Run("agent_status is delivered", func(t *testing.T) {
		h.fake.Reset()
		r := post(t, `{"type":"agent_status","agent":"cleanup-bot","status":"errored","previous_status":"deployed","reason":"OOMKilled","changed_at":"2025-06-01T10:00:00Z"}`)
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		slackMsg, teamsMsg := delivered(t, "OOMKilled")
		assert.Contains(t, slackMsg.AllText, "cleanup-bot")
		assert.Contains(t, teamsMsg.AllText, "cleanup-bot")
	})

	t.Run("a failed delivery is logged with its reason, the answer is still 202", func(t *testing.T) {
		h.fake.Reset()
		f := notifytest.PlatformError("channel_not_found")
		f.Method = "chat.postMessage"
		h.fake.FailNext(1, f)
		r := post(t, `{"type":"agent_status","agent":"a","status":"stopped"}`)
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		eventually(t, "the failure in the log", func() bool {
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, `msg="notify: delivery failed"`) && strings.Contains(l, "channel_id="+bot) && strings.Contains(l, "code=channel_not_found") {
					return true
				}
			}
			return false
		})
	})

	for _, tc := range []struct {
		name, body, error string
		status            int
	}{
		{"invalid severity", `{"type":"drift_alert","resource":"r","severity":"apocalyptic"}`, "severity must be low, medium, high or critical", 400},
		{"no severity", `{"type":"drift_alert","resource":"r"}`, "severity must be low, medium, high or critical", 400},
		{"no resource", `{"type":"drift_alert","severity":"low"}`, "resource is required", 400},
		{"invalid status", `{"type":"agent_status","agent":"a","status":"exploded"}`, "status must be deployed, stopped or errored", 400},
		{"no agent", `{"type":"agent_status","status":"deployed"}`, "agent is required", 400},
		{"approval_request", `{"type":"approval_request","request":{"title":"t"}}`, "approval requests are raised with POST /v1/approvals", 400},
		{"unknown type", `{"type":"deploy_started","agent":"a"}`, `type must be "drift_alert" or "agent_status"`, 400},
		{"no type", `{"agent":"a","status":"deployed"}`, `type must be "drift_alert" or "agent_status"`, 400},
		{"unknown field in drift_alert", `{"type":"drift_alert","resource":"r","severity":"low","colour":"red"}`, `unknown field "colour"`, 400},
		{"unknown field in agent_status", `{"type":"agent_status","agent":"a","status":"deployed","org_id":"other"}`, `unknown field "org_id"`, 400},
		{"wrong field type", `{"type":"agent_status","agent":7,"status":"deployed"}`, `field "agent" has the wrong type`, 400},
		{"bad time", `{"type":"agent_status","agent":"a","status":"deployed","changed_at":"yesterday"}`, "times must be RFC 3339 strings", 400},
		{"type not a string", `{"type":5}`, `type must be "drift_alert" or "agent_status"`, 400},
		{"not an object", `"drift_alert"`, "request body must be a JSON object", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, tc.body)
			assert.Equal(t, tc.status, r.Status, "%s", r.Body)
			assert.Equal(t, tc.error, r.errorText(t))
		})
	}
	t.Run("wrong Content-Type is 415", func(t *testing.T) {
		r := h.send(t, "POST", "/v1/events", testAdminToken, "text/plain", strings.NewReader(`{"type":"agent_status","agent":"a","status":"deployed"}`))
		assert.Equal(t, http.StatusUnsupportedMediaType, r.Status)
	})
	t.Run("oversized body is 413", func(t *testing.T) {
		body := `{"type":"agent_status","agent":"a","status":"deployed","reason":"` + strings.Repeat("x", 64<<10) + `"}`
		r := h.send(t, "POST", "/v1/events", testAdminToken, "application/json", strings.NewReader(body))
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	})
	t.Run("refused events sent nothing", func(t *testing.T) {
		// Close drains the queue: whatever was queued has been sent.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.app.dispatcher.Close(ctx))
		for _, r := range h.fake.Requests() {
			assert.NotContains(t, r.AllText, "deploy_started")
			assert.NotContains(t, r.AllText, "exploded")
		}
	})
	t.Run("after Close the queue is refused with 503", func(t *testing.T) {
		r := post(t, `{"type":"agent_status","agent":"a","status":"deployed"}`)
		assert.Equal(t, http.StatusServiceUnavailable, r.Status)
		assert.Equal(t, "the server is shutting down", r.errorText(t))
	})
}

// An unexpected failure (here the database gone) is a bare 500 for the
// client, and an error line saying what failed for the operator; never a
// 404 that hides it.
func TestUnexpectedErrorsAre500AndLogged(t *testing.T) {
	h := newTestHost(t, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "x.db")})
	var logs syncbuf.Buffer
	h.app.logger = slog.New(slog.NewTextHandler(&logs, nil)) // before any request
	closeStore := h.app.closeStore
	h.app.closeStore = func() error { return nil }
	require.NoError(t, closeStore())

	for _, tc := range []struct {
		method, path, token string
		body                any
	}{
		{"GET", "/v1/audit", testAdminToken, nil},
		{"GET", "/v1/approvals/apr-1", testViewerToken, nil},
		{"POST", "/v1/approvals/apr-1/decision", testViewerToken, map[string]any{"decision": "approve"}},
		{"POST", "/v1/approvals", testAdminToken, map[string]any{"title": "t"}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := h.call(t, tc.method, tc.path, tc.token, tc.body)
			assert.Equal(t, http.StatusInternalServerError, r.Status)
			assert.Equal(t, "internal error", r.errorText(t))
			assert.Contains(t, logs.String(), `msg="request failed" method=`+tc.method+` path=`+tc.path+` err=`)
		})
	}
	assert.Contains(t, logs.String(), "database is closed")
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	h := newTestHost(t, nil)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/nothing", http.StatusNotFound},
		{"DELETE", "/v1/approvals/x", http.StatusMethodNotAllowed},
		{"GET", "/v1/events", http.StatusMethodNotAllowed},
		{"PUT", "/v1/audit", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := h.send(t, tc.method, tc.path, testAdminToken, "", nil)
			assert.Equal(t, tc.status, r.Status, strconv.Quote(string(r.Body)))
		})
	}
}
