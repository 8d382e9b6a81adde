package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
)

// sandboxServer is the example app in sandbox mode, serving on a
// loopback listener as run does.
type sandboxServer struct {
	app  *app
	base string
}

// startSandboxApp starts the app in sandbox mode with an in-memory store
// on a loopback listener; PublicURL is the listener's address, as run
// sets it.
func startSandboxApp(t *testing.T) *sandboxServer {
	t.Helper()
	return startSandboxAppAt(t, "")
}

// startSandboxAppAt is startSandboxApp with the app mounted under prefix
// ("" for the root) on a chi router, PublicURL including the prefix.
func startSandboxAppAt(t *testing.T, prefix string) *sandboxServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := loadConfig(func(string) string { return "" })
	cfg.DatabaseURL = "memory:"
	cfg.Sandbox = true
	cfg.PublicURL = "http://" + ln.Addr().String() + prefix
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		ln.Close()
		require.NoError(t, err)
	}
	var h http.Handler = a
	if prefix != "" {
		r := chi.NewRouter()
		r.Mount(prefix, http.StripPrefix(prefix, a))
		h = r
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		a.Close(ctx)
	})
	return &sandboxServer{app: a, base: cfg.PublicURL}
}

// call sends a JSON request with the admin token and decodes the answer
// into out (when not nil), returning the status.
func (s *sandboxServer) call(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.app.cfg.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out), "%s %s answered %s", method, path, resp.Status)
	}
	return resp.StatusCode
}

// eventually polls cond every 20 ms until it holds or 15 s have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type sandboxState struct {
	Channels []sandboxChannel `json:"channels"`
}

// botChannel creates a Slack bot channel through the settings API.
func (s *sandboxServer) botChannel(t *testing.T, name, channelID string) string {
	t.Helper()
	var ch struct{ ID string }
	status := s.call(t, "POST", "/v1/settings/notifications", map[string]any{
		"channel_type": "slack", "name": name,
		"config": map[string]any{"bot_token": testBotToken, "channel_id": channelID},
	}, &ch)
	require.Equal(t, http.StatusCreated, status)
	return ch.ID
}

// messages returns what the sandbox state shows for a channel.
func (s *sandboxServer) messages(t *testing.T, channelID string) []sandboxMessage {
	t.Helper()
	var st sandboxState
	require.Equal(t, http.StatusOK, s.call(t, "GET", "/sandbox/api/state", nil, &st))
	for _, c := range st.Channels {
		if c.ID == channelID {
			return c.Messages
		}
	}
	return nil
}

func TestSandboxRouter(t *testing.T) {
	s := startSandboxApp(t)
	c := s.app.sandbox.client()
	teamsCard := `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","body":[]}}]}`
	for _, tc := range []struct {
		name, url, contentType, body string
		status                       int
		answer                       string // a prefix of the answer
	}{
		{"Slack Web API", "https://slack.com/api/chat.postMessage", "application/x-www-form-urlencoded", "channel=C1&text=hi",
			http.StatusOK, `{"error":"not_authed","ok":false}`},
		{"Slack incoming webhook", "https://hooks.slack.com/services/T0/B0/XYZ", "application/json", `{"text":"hi"}`,
			http.StatusOK, "ok"},
		{"legacy Teams connector", "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d", "application/json", teamsCard,
			http.StatusOK, "1"},
		{"Teams Workflows", "https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x", "application/json", teamsCard,
			http.StatusAccepted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Post(tc.url, tc.contentType, strings.NewReader(tc.body))
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.True(t, strings.HasPrefix(strings.TrimSpace(string(b)), tc.answer), "answer %q", b)
		})
	}
	for _, u := range []string{
		"https://example.com/",
		"http://slack.com/api/chat.postMessage",
		"https://slack.com.evil.example/api/chat.postMessage",
		"https://evil.example/x.webhook.office.com/",
		"http://" + strings.TrimPrefix(s.base, "http://") + "/healthz",
	} {
		t.Run("refuses "+u, func(t *testing.T) {
			_, err := c.Get(u)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "the sandbox reaches nothing else")
		})
	}
}

func TestSandboxGeneratesSigningSecret(t *testing.T) {
	s := startSandboxApp(t)
	require.Len(t, s.app.cfg.SlackSecrets, 1)
	assert.GreaterOrEqual(t, len(s.app.cfg.SlackSecrets[0]), 32)
	for _, w := range s.app.warnings {
		assert.NotContains(t, w, "SLACK_SIGNING_SECRET")
	}

	// Slack's endpoint is verified: an unsigned click is refused.
	resp, err := http.Post(s.base+approval.SlackInteractionsPath, "application/x-www-form-urlencoded",
		strings.NewReader("payload="+url.QueryEscape(`{"type":"block_actions"}`)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestSandboxWarnsBeyondLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:8080", false},
		{"localhost:8080", false},
		{"[::1]:8080", false},
		{"0.0.0.0:8080", true},
		{":8080", true},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			cfg := loadConfig(func(string) string { return "" })
			cfg.DatabaseURL, cfg.Sandbox, cfg.Addr = "memory:", true, tc.addr
			a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			t.Cleanup(func() { a.Close(context.Background()) })
			warned := false
			for _, w := range a.warnings {
				warned = warned || strings.Contains(w, "hands the admin token to anyone")
			}
			assert.Equal(t, tc.warn, warned, "%q", a.warnings)
		})
	}
}

func TestSandboxPage(t *testing.T) {
	s := startSandboxApp(t)
	t.Run("serves the page with the admin token and a strict CSP", func(t *testing.T) {
		resp, err := http.Get(s.base + "/sandbox")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(b), `<meta name="chatnotify-admin-token" content="`+s.app.cfg.AdminToken+`">`)
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
	})
	t.Run("serves its assets", func(t *testing.T) {
		for _, f := range []string{"sandbox.js", "sandbox.css"} {
			resp, err := http.Get(s.base + "/sandbox/static/" + f)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, f)
		}
	})
	t.Run("is absent outside sandbox mode", func(t *testing.T) {
		cfg := loadConfig(func(string) string { return "" })
		cfg.DatabaseURL = "memory:"
		a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		t.Cleanup(func() { a.Close(context.Background()) })
		for _, p := range []string{"/sandbox", "/sandbox/api/state", "/sandbox/static/sandbox.js"} {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", p, nil)
			req.Header.Set("Authorization", "Bearer "+a.cfg.AdminToken)
			w := httptest.NewRecorder()
			a.ServeHTTP(w, req)
			assert.Equal(t, http.StatusNotFound, w.Code, p)
		}
	})
}

func TestSandboxStateNeedsAdminAndHidesSecrets(t *testing.T) {
	s := startSandboxApp(t)
	s.botChannel(t, "Security Alerts", "C0SECRETS1")
	status := s.call(t, "POST", "/v1/settings/notifications", map[string]any{
		"channel_type": "teams", "name": "Teams",
		"config": map[string]any{"webhook_url": "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/topsecret/d"},
	}, nil)
	require.Equal(t, http.StatusCreated, status)

	resp, err := http.Get(s.base + "/sandbox/api/state")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	req, _ := http.NewRequestWithContext(t.Context(), "GET", s.base+"/sandbox/api/state", nil)
	req.Header.Set("Authorization", "Bearer "+s.app.cfg.AdminToken)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), "C0SECRETS1")
	assert.NotContains(t, string(b), testBotToken)
	assert.NotContains(t, string(b), "topsecret")
}

func TestSandboxSlackClick(t *testing.T) {
	s := startSandboxApp(t)
	chID := s.botChannel(t, "Security Alerts", "C0CLICKS01")
	var req approval.Request
	require.Equal(t, http.StatusCreated, s.call(t, "POST", "/v1/approvals", map[string]any{
		"title": "Delete production database backups", "agent": "cleanup-bot", "action": "s3:DeleteObject",
		"risk_score": 82, "expires_in_seconds": 3600,
	}, &req))
	var ts string
	eventually(t, "the approval request in the Slack channel", func() bool {
		msgs := s.messages(t, chID)
		if len(msgs) == 1 {
			ts = msgs[0].ID
		}
		return ts != ""
	})

	click := func(body map[string]any) (int, map[string]any) {
		var out map[string]any
		status := s.call(t, "POST", "/sandbox/api/slack/click", body, &out)
		return status, out
	}
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			body   map[string]any
			status int
		}{
			{"unknown channel", map[string]any{"channel": "nope", "ts": ts, "action_id": "approve_action"}, http.StatusNotFound},
			{"unknown message", map[string]any{"channel": chID, "ts": "1.2", "action_id": "approve_action"}, http.StatusNotFound},
			{"no such button", map[string]any{"channel": chID, "ts": ts, "action_id": "launch_missiles"}, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _ := click(tc.body)
				assert.Equal(t, tc.status, status)
			})
		}
	})

	t.Run("approve sends a signed block_actions and the message is replaced", func(t *testing.T) {
		status, out := click(map[string]any{"channel": chID, "ts": ts, "action_id": "approve_action", "user": "amy"})
		require.Equal(t, http.StatusOK, status)
		assert.EqualValues(t, http.StatusOK, out["status"], "the interactions endpoint's answer: %v", out["answer"])
		assert.Contains(t, out["answer"], ":white_check_mark: *APPROVED* by amy")

		// The payload has the shape of Slack's reference sample.
		p := out["payload"].(map[string]any)
		assert.Equal(t, "block_actions", p["type"])
		assert.Equal(t, "amy", p["user"].(map[string]any)["username"])
		assert.Equal(t, map[string]any{"type": "message", "message_ts": ts, "channel_id": "C0CLICKS01", "is_ephemeral": false}, p["container"])
		assert.Equal(t, "C0CLICKS01", p["channel"].(map[string]any)["id"])
		assert.Equal(t, ts, p["message"].(map[string]any)["ts"])
		assert.True(t, strings.HasPrefix(p["response_url"].(string), "https://hooks.slack.com/actions/"), p["response_url"])
		action := p["actions"].([]any)[0].(map[string]any)
		assert.Equal(t, "approve_action", action["action_id"])
		assert.Equal(t, req.ID, action["value"])
		assert.Equal(t, "approval_actions", action["block_id"])

		var got approval.Request
		require.Equal(t, http.StatusOK, s.call(t, "GET", "/v1/approvals/"+req.ID, nil, &got))
		assert.Equal(t, approval.StatusApproved, got.Status)
		assert.Equal(t, "Approved by amy via Slack", got.ReviewNotes)

		var audit struct{ Entries []approval.AuditEntry }
		require.Equal(t, http.StatusOK, s.call(t, "GET", "/v1/audit?approval_id="+req.ID, nil, &audit))
		require.Len(t, audit.Entries, 1)
		assert.True(t, audit.Entries[0].Verified, "the click went through slackverify")

		eventually(t, "the message replaced through response_url and chat.update", func() bool {
			m := s.messages(t, chID)[0]
			return len(m.Edits) == 2
		})
		m := s.messages(t, chID)[0]
		assert.ElementsMatch(t, []string{"response_url", "chat.update"}, m.Edits)
		assert.Equal(t, ":white_check_mark: *APPROVED* by amy", m.Text)
		_, _, hasButton := findButton(m.Blocks, "approve_action")
		assert.False(t, hasButton, "the buttons are gone")
	})

	t.Run("a replaced message has no button left to click", func(t *testing.T) {
		eventually(t, "the first replacement", func() bool { return len(s.messages(t, chID)[0].Edits) == 2 })
		status, out := click(map[string]any{"channel": chID, "ts": ts, "action_id": "approve_action", "user": "bob"})
		assert.Equal(t, http.StatusBadRequest, status, "%v", out)
	})
}
