package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/teams"
)

// The sandbox's Teams bot through its page's API: adding the bot to a
// team, a channel created from the discovered conversation, a click on
// the card decided by the real bot endpoint, and the bot's removal.

// TestSandboxRoutesTheBotsMicrosoftHosts: the Bot Connector's and Entra's
// hosts reach the fake, Entra's paths under /login.
func TestSandboxRoutesTheBotsMicrosoftHosts(t *testing.T) {
	s := startSandboxApp(t)
	c := s.app.sandbox.client()
	bot := s.app.sandbox.fake.TeamsBot()
	resp, err := c.PostForm("https://login.microsoftonline.com/"+bot.Tenant+"/oauth2/v2.0/token", map[string][]string{
		"grant_type": {"client_credentials"}, "client_id": {bot.AppID}, "client_secret": {bot.AppSecret},
		"scope": {"https://api.botframework.com/.default"},
	})
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	assert.Contains(t, string(b), `"access_token"`)

	resp, err = c.Post(sandboxServiceURL+"v3/conversations/19:x@thread.tacv2/activities", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the fake Bot Connector wants the bot's token")

	for _, u := range []string{"http://smba.trafficmanager.net/amer/", "https://smba.trafficmanager.net.evil.example/amer/", "https://login.microsoftonline.com.evil.example/"} {
		_, err := c.Get(u)
		require.Error(t, err, u)
		assert.Contains(t, err.Error(), "the sandbox reaches nothing else")
	}
}

func TestSandboxTeamsBot(t *testing.T) {
	s := startSandboxApp(t)
	secret := s.app.sandbox.fake.TeamsBot().AppSecret
	var inst map[string]any
	require.Equal(t, http.StatusOK, s.call(t, "POST", "/sandbox/api/teams/install",
		map[string]any{"team": "Contoso Security", "channel": "Approvals", "user": "Megan Bowen"}, &inst))
	assert.EqualValues(t, http.StatusOK, inst["status"], "the bot endpoint's answer: %v", inst["answer"])
	conv, _ := inst["conversation_id"].(string)
	require.True(t, strings.HasPrefix(conv, "19:") && strings.HasSuffix(conv, "@thread.tacv2"), conv)

	var list struct{ Conversations []teams.Conversation }
	require.Equal(t, http.StatusOK, s.call(t, "GET", "/v1/settings/notifications/teams/conversations", nil, &list))
	require.Len(t, list.Conversations, 1)
	c := list.Conversations[0]
	assert.Equal(t, conv, c.ConversationID)
	assert.Equal(t, sandboxServiceURL, c.ServiceURL)
	assert.Equal(t, "Contoso Security", c.TeamName)
	assert.Equal(t, "Approvals", c.Name)

	var ch struct{ ID string }
	require.Equal(t, http.StatusCreated, s.call(t, "POST", "/v1/settings/notifications", map[string]any{
		"channel_type": "teams", "name": "Teams Bot",
		"config": map[string]any{"service_url": c.ServiceURL, "conversation_id": c.ConversationID, "tenant_id": c.TenantID},
	}, &ch))
	var req approval.Request
	require.Equal(t, http.StatusCreated, s.call(t, "POST", "/v1/approvals", map[string]any{
		"title": "Grant production database access", "risk_score": 91, "expires_in_seconds": 3600,
	}, &req))
	var card sandboxMessage
	eventually(t, "the bot's card", func() bool {
		msgs := s.messages(t, ch.ID)
		if len(msgs) == 1 {
			card = msgs[0]
		}
		return card.ID != ""
	})
	data, ok := findExecute(card.Cards, "approve")
	require.True(t, ok, "an Approve button: %v", card.Cards)
	assert.Equal(t, map[string]any{"action": "approve", "approval_id": req.ID}, data)

	click := func(body map[string]any) (int, map[string]any) {
		var out map[string]any
		status := s.call(t, "POST", "/sandbox/api/teams/click", body, &out)
		return status, out
	}
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			body   map[string]any
			status int
		}{
			{"unknown channel", map[string]any{"channel": "nope", "activity_id": card.ID, "verb": "approve"}, http.StatusNotFound},
			{"unknown card", map[string]any{"channel": ch.ID, "activity_id": "17", "verb": "approve"}, http.StatusNotFound},
			{"no such button", map[string]any{"channel": ch.ID, "activity_id": card.ID, "verb": "launch"}, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _ := click(tc.body)
				assert.Equal(t, tc.status, status)
			})
		}
	})

	t.Run("Approve sends a signed invoke and its answer replaces the card", func(t *testing.T) {
		status, out := click(map[string]any{"channel": ch.ID, "activity_id": card.ID, "verb": "approve", "user": "Megan Bowen"})
		require.Equal(t, http.StatusOK, status)
		assert.EqualValues(t, http.StatusOK, out["status"], "the bot endpoint's answer: %v", out["answer"])
		assert.Contains(t, out["answer"], `"type":"application/vnd.microsoft.card.adaptive"`)
		assert.Contains(t, out["answer"], "**APPROVED** by Megan Bowen")
		a := out["activity"].(map[string]any)
		assert.Equal(t, "invoke", a["type"])
		assert.Equal(t, "adaptiveCard/action", a["name"])
		assert.Equal(t, card.ID, a["replyToId"])
		assert.Equal(t, sandboxServiceURL, a["serviceUrl"])

		var got approval.Request
		require.Equal(t, http.StatusOK, s.call(t, "GET", "/v1/approvals/"+req.ID, nil, &got))
		assert.Equal(t, approval.StatusApproved, got.Status)
		assert.Equal(t, "Approved by Megan Bowen via Teams", got.ReviewNotes)
		assert.Equal(t, guidOf("aad Megan Bowen"), got.ReviewerID)

		eventually(t, "the answer, then the PUT, over the card", func() bool {
			m := s.messages(t, ch.ID)[0]
			return strings.Join(m.Edits, ",") == invokeEdit+",updateActivity"
		})
		m := s.messages(t, ch.ID)[0]
		_, ok := findExecute(m.Cards, "approve")
		assert.False(t, ok, "the buttons are gone")
		status, _ = click(map[string]any{"channel": ch.ID, "activity_id": card.ID, "verb": "deny", "user": "Bob"})
		assert.Equal(t, http.StatusBadRequest, status, "a replaced card has no button left to click")
	})

	t.Run("removing the bot", func(t *testing.T) {
		var out map[string]any
		require.Equal(t, http.StatusOK, s.call(t, "POST", "/sandbox/api/teams/remove", map[string]any{"channel": ch.ID}, &out))
		assert.EqualValues(t, http.StatusOK, out["status"], "%v", out["answer"])
		require.Equal(t, http.StatusOK, s.call(t, "GET", "/v1/settings/notifications/teams/conversations", nil, &list))
		assert.True(t, list.Conversations[0].Removed)
		var test map[string]any
		assert.Equal(t, http.StatusBadGateway, s.call(t, "POST", "/v1/settings/notifications/"+ch.ID+"/test", map[string]any{}, &test))
		assert.Contains(t, test["error"], "the bot was removed from this Teams conversation")
	})

	t.Run("the bot's secret reaches neither the page nor the state", func(t *testing.T) {
		for _, p := range []string{"/sandbox", "/sandbox/api/state", "/v1/settings/notifications"} {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", s.base+p, nil)
			req.Header.Set("Authorization", "Bearer "+s.app.cfg.AdminToken)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, p)
			assert.NotContains(t, string(b), secret, p)
		}
	})
}
