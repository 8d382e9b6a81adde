package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/pgtest"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/slackverify"
)

// The whole loop over real HTTP: channels created through the settings
// API, an approval request created through the host's API and delivered
// to a fake Slack (bot and webhook) and a fake Teams, decided by a signed
// Slack click, a Teams link or the host's API, and every copy brought up
// to date. Run on each store the example supports.

// e2eHost is a test host with three channels: a Slack bot channel, a
// Slack incoming webhook and a Teams incoming webhook.
type e2eHost struct {
	*testHost
	slackChannel string // the Slack channel ID the bot posts to
	hookPath     string // the path of the Slack webhook URL
	teamsPath    string // the path of the Teams webhook URL
}

func newE2EHost(t *testing.T, dsn string) *e2eHost {
	t.Helper()
	h := newTestHost(t, map[string]string{"DATABASE_URL": dsn})
	e := &e2eHost{testHost: h, slackChannel: "C0E2EBOT01"}
	h.botChannel(t, "Security Approvals", e.slackChannel)
	h.webhookChannel(t, "Security Webhook", "e2e")
	e.hookPath = urlPath(h.fake.SlackWebhookURL("e2e"))
	h.createChannel(t, map[string]any{
		"channel_type": "teams", "name": "Teams Approvals",
		"config": map[string]any{"webhook_url": h.fake.TeamsWebhookURL("e2e")},
	})
	e.teamsPath = urlPath(h.fake.TeamsWebhookURL("e2e"))
	return e
}

// testStores are the stores the example supports, each giving the
// DATABASE_URL of a new, empty store.
var testStores = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"memory", func(*testing.T) string { return "memory:" }},
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "x.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
}

func TestEndToEnd(t *testing.T) {
	for _, st := range testStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := newE2EHost(t, st.dsn(t))
			t.Run("approve with a signed Slack click", e.testSlackClick)
			t.Run("deny through the Teams link", e.testTeamsLink)
			t.Run("approve through the host API", e.testAPIDecision)
		})
	}
}

// testSlackClick: delivery to all three channels, refused unsigned
// clicks, a signed click deciding, and every copy updated.
func (e *e2eHost) testSlackClick(t *testing.T) {
	req := e.createApproval(t, map[string]any{
		"title": "Delete production backups", "description": "Frees 2 TB of old snapshots",
		"agent": "cleanup-bot", "action": "s3:DeleteObject", "risk_score": 82,
		"requested_by": "ci@example.com", "expires_in_seconds": 3600,
	})

	// The bot message carries Approve and Deny, valued with the ID.
	post := e.waitBotPost(t, req.ID)
	buttons := map[string]notifytest.Button{}
	for _, b := range post.Buttons {
		buttons[b.ActionID] = b
	}
	require.Contains(t, buttons, approveAction, "%+v", post.Buttons)
	require.Contains(t, buttons, denyAction)
	assert.Equal(t, req.ID, buttons[approveAction].Value)
	assert.Equal(t, req.ID, buttons[denyAction].Value)
	assert.Equal(t, "primary", buttons[approveAction].Style)
	assert.Equal(t, "danger", buttons[denyAction].Style)
	assert.Contains(t, post.AllText, "Delete production backups")
	assert.Equal(t, testBotToken, post.Token, "posted with the channel's bot token")

	// The webhook message has no interactive button.
	hook := e.waitWebhookPost(t, "Delete production backups")
	for _, b := range hook.Buttons {
		assert.Empty(t, b.Value, "no button carrying an approval ID: %+v", b)
		assert.NotEqual(t, approveAction, b.ActionID)
		assert.NotEqual(t, denyAction, b.ActionID)
	}

	// The Teams card links to the host's signed Approve and Deny pages.
	card := e.waitTeamsCard(t, "Delete production backups")
	links := teamsLinks(card)
	prefix := e.url + approval.TeamsInteractionsPath + "?token="
	require.Contains(t, links, "Approve", "%+v", card.Buttons)
	require.Contains(t, links, "Deny")
	assert.True(t, strings.HasPrefix(links["Approve"], prefix), links["Approve"])
	assert.True(t, strings.HasPrefix(links["Deny"], prefix), links["Deny"])
	assert.NotEqual(t, links["Approve"], links["Deny"])

	e.waitRecorded(t, req.ID)
	blockID := actionsBlockID(t, post.Blocks)
	click := e.clickPayload(e.fake.ResponseURL(e.slackChannel, post.TS), post.TS, blockID, approveAction, req.ID,
		map[string]any{"id": "U0AMYPOND1", "username": "apond", "name": "amypond", "team_id": "T0E2E"})

	t.Run("unsigned and badly signed clicks are refused", func(t *testing.T) {
		now := time.Now()
		for _, tc := range []struct {
			name string
			sign func(h http.Header, body []byte) []byte
		}{
			{"unsigned", func(h http.Header, body []byte) []byte { return body }},
			{"wrong secret", func(h http.Header, body []byte) []byte {
				slackverify.Sign(h, body, now, "not-the-signing-secret")
				return body
			}},
			{"tampered body", func(h http.Header, body []byte) []byte {
				slackverify.Sign(h, body, now, testSigning)
				return []byte(strings.Replace(string(body), "amypond", "mallory", 1))
			}},
			{"stale timestamp", func(h http.Header, body []byte) []byte {
				slackverify.Sign(h, body, now.Add(-6*time.Minute), testSigning)
				return body
			}},
			{"timestamp in the future", func(h http.Header, body []byte) []byte {
				slackverify.Sign(h, body, now.Add(6*time.Minute), testSigning)
				return body
			}},
			{"signature without its timestamp", func(h http.Header, body []byte) []byte {
				slackverify.Sign(h, body, now, testSigning)
				h.Del("X-Slack-Request-Timestamp")
				return body
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := http.Header{}
				body := tc.sign(h, click)
				status, answer := e.postClick(t, h, body)
				assert.Equal(t, http.StatusUnauthorized, status)
				assert.JSONEq(t, `{"error":"Invalid signature"}`, answer)
			})
		}
		got := e.getApproval(t, req.ID)
		assert.Equal(t, approval.StatusPending, got.Status, "nothing was decided")
		assert.Empty(t, got.ReviewedBy)
		assert.Empty(t, e.audit(t, "?approval_id="+req.ID))
	})

	t.Run("a signed click approves", func(t *testing.T) {
		h := http.Header{}
		slackverify.Sign(h, click, time.Now(), testSigning)
		status, answer := e.postClick(t, h, click)
		require.Equal(t, http.StatusOK, status, answer)
		assert.Contains(t, answer, ":white_check_mark: *APPROVED* by amypond")

		got := e.getApproval(t, req.ID)
		assert.Equal(t, approval.StatusApproved, got.Status)
		assert.Equal(t, "amypond", got.ReviewedBy, "user.name comes first")
		assert.Equal(t, "U0AMYPOND1", got.ReviewerID)
		assert.Equal(t, approval.SourceSlack, got.ReviewSource)
		assert.Equal(t, "Approved by amypond via Slack", got.ReviewNotes)

		entries := e.audit(t, "?approval_id="+req.ID)
		require.Len(t, entries, 1)
		assert.Equal(t, approval.AuditReviewed, entries[0].Action)
		assert.Equal(t, "amypond", entries[0].Actor)
		assert.Equal(t, "U0AMYPOND1", entries[0].ActorID)
		assert.True(t, entries[0].Verified, "the click's signature was verified")
		assert.Equal(t, approval.SourceSlack, entries[0].Source)
		assert.Equal(t, 82, entries[0].RiskScore)
	})

	t.Run("the Slack message is replaced and updated", func(t *testing.T) {
		var m notifytest.Message
		eventually(t, "the response_url replacement and the chat.update", func() bool {
			m = e.message(post.Channel, post.TS)
			return len(m.Edits) == 2
		})
		assert.ElementsMatch(t, []string{"response_url", "chat.update"}, m.Edits)
		assert.Equal(t, ":white_check_mark: *APPROVED* by amypond", m.Text)
		_, _, hasApprove := findButton(m.Blocks, approveAction)
		_, _, hasDeny := findButton(m.Blocks, denyAction)
		assert.False(t, hasApprove || hasDeny, "the buttons are gone: %v", m.Blocks)
		assert.False(t, m.Ephemeral)
	})

	t.Run("the Teams channel gets a result card", func(t *testing.T) {
		follow := e.waitTeamsResult(t, req.ID)
		assert.Contains(t, follow.AllText, "**APPROVED** by amypond")
		assert.Empty(t, follow.Buttons, "a result card has no Approve or Deny link")
	})

	t.Run("a second click is told Already approved", func(t *testing.T) {
		again := e.clickPayload(e.fake.ResponseURL(e.slackChannel, post.TS), post.TS, blockID, denyAction, req.ID,
			map[string]any{"id": "U0BOB00001", "username": "bob"})
		h := http.Header{}
		slackverify.Sign(h, again, time.Now(), testSigning)
		status, answer := e.postClick(t, h, again)
		require.Equal(t, http.StatusOK, status, answer)
		assert.Contains(t, answer, "Already approved")
		eventually(t, "the ephemeral warning to the second clicker", func() bool {
			for _, m := range e.fake.Messages() {
				if m.Channel == e.slackChannel && m.Ephemeral && strings.Contains(m.Text, "Already approved") {
					return true
				}
			}
			return false
		})
		got := e.getApproval(t, req.ID)
		assert.Equal(t, approval.StatusApproved, got.Status)
		assert.Equal(t, "amypond", got.ReviewedBy)
		assert.Len(t, e.audit(t, "?approval_id="+req.ID), 1)
		assert.Equal(t, ":white_check_mark: *APPROVED* by amypond", e.message(post.Channel, post.TS).Text,
			"the original message is not wiped for everyone")
	})
}

// testTeamsLink: the Deny link of the Teams card, its confirmation page
// and form, and the Slack copy updated.
func (e *e2eHost) testTeamsLink(t *testing.T) {
	req := e.createApproval(t, map[string]any{
		"title": "Open port 22 to the world", "agent": "netops-bot", "action": "ec2:AuthorizeSecurityGroupIngress",
		"risk_score": 95, "expires_in_seconds": 3600,
	})
	post := e.waitBotPost(t, req.ID)
	card := e.waitTeamsCard(t, "Open port 22 to the world")
	deny := teamsLinks(card)["Deny"]
	require.True(t, strings.HasPrefix(deny, e.url+approval.TeamsInteractionsPath+"?token="), "%+v", card.Buttons)
	e.waitRecorded(t, req.ID)

	t.Run("the link shows a confirmation page and decides nothing", func(t *testing.T) {
		resp, err := http.Get(deny)
		require.NoError(t, err)
		page := readAll(t, resp)
		assert.Equal(t, http.StatusOK, resp.StatusCode, page)
		assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
		assert.Contains(t, page, "Deny this request?")
		assert.Contains(t, page, "Open port 22 to the world")
		assert.Contains(t, page, `<form method="post">`)
		assert.Contains(t, page, `name="name"`, "without an identity hook the page asks for a name")
		assert.Equal(t, approval.StatusPending, e.getApproval(t, req.ID).Status)
	})

	t.Run("the form decides", func(t *testing.T) {
		token, err := url.Parse(deny)
		require.NoError(t, err)
		form := url.Values{"token": {token.Query().Get("token")}, "name": {"Jane Doe"}}
		resp, err := http.PostForm(deny, form)
		require.NoError(t, err)
		page := readAll(t, resp)
		assert.Equal(t, http.StatusOK, resp.StatusCode, page)
		assert.Contains(t, page, "Denied by Jane Doe")

		got := e.getApproval(t, req.ID)
		assert.Equal(t, approval.StatusDenied, got.Status)
		assert.Equal(t, "Jane Doe", got.ReviewedBy)
		assert.Equal(t, approval.SourceTeams, got.ReviewSource)
		assert.Equal(t, "Denied by Jane Doe via Teams", got.ReviewNotes)
		entries := e.audit(t, "?approval_id="+req.ID)
		require.Len(t, entries, 1)
		assert.Equal(t, "Jane Doe", entries[0].Actor)
		assert.False(t, entries[0].Verified, "a typed name is not a verified identity")
		assert.Equal(t, approval.SourceTeams, entries[0].Source)
		assert.Equal(t, approval.StatusDenied, entries[0].Decision)
	})

	t.Run("the link does not work twice", func(t *testing.T) {
		resp, err := http.Get(deny)
		require.NoError(t, err)
		page := readAll(t, resp)
		assert.Equal(t, http.StatusConflict, resp.StatusCode)
		assert.Contains(t, page, "Already denied")
		assert.NotContains(t, page, "<form")
	})

	t.Run("the Slack message is updated", func(t *testing.T) {
		var m notifytest.Message
		eventually(t, "the chat.update of the Slack copy", func() bool {
			m = e.message(post.Channel, post.TS)
			return len(m.Edits) > 0
		})
		assert.Equal(t, []string{"chat.update"}, m.Edits)
		assert.Equal(t, ":x: *DENIED* by Jane Doe", m.Text)
		_, _, hasButton := findButton(m.Blocks, approveAction)
		assert.False(t, hasButton, "the buttons are gone")
	})

	t.Run("the Teams channel gets a result card", func(t *testing.T) {
		follow := e.waitTeamsResult(t, req.ID)
		assert.Contains(t, follow.AllText, "**DENIED** by Jane Doe")
	})
}

// testAPIDecision: the host's own API decides, and the chat copies follow.
func (e *e2eHost) testAPIDecision(t *testing.T) {
	req := e.createApproval(t, map[string]any{"title": "Scale the cluster to 40 nodes", "risk_score": 30})
	post := e.waitBotPost(t, req.ID)
	e.waitTeamsCard(t, "Scale the cluster to 40 nodes")
	e.waitRecorded(t, req.ID)

	r := e.admin(t, "POST", "/v1/approvals/"+req.ID+"/decision", map[string]any{"decision": "approve"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

	var m notifytest.Message
	eventually(t, "the chat.update of the Slack copy", func() bool {
		m = e.message(post.Channel, post.TS)
		return len(m.Edits) > 0
	})
	assert.Equal(t, []string{"chat.update"}, m.Edits)
	assert.Equal(t, ":white_check_mark: *APPROVED* by admin", m.Text)
	_, _, hasButton := findButton(m.Blocks, approveAction)
	assert.False(t, hasButton, "the buttons are gone")

	follow := e.waitTeamsResult(t, req.ID)
	assert.Contains(t, follow.AllText, "**APPROVED** by admin")

	entries := e.audit(t, "?approval_id="+req.ID)
	require.Len(t, entries, 1)
	assert.Equal(t, approval.SourceAPI, entries[0].Source)
}

// waitBotPost waits for the bot's chat.postMessage of the approval id
// and returns it (with its ts).
func (e *e2eHost) waitBotPost(t *testing.T, id string) notifytest.Request {
	t.Helper()
	var found notifytest.Request
	eventually(t, "the Slack bot message of "+id, func() bool {
		for _, r := range e.fake.Requests() {
			if r.Method != "chat.postMessage" || r.Channel != e.slackChannel || r.Answer != http.StatusOK {
				continue
			}
			for _, b := range r.Buttons {
				if b.Value == id {
					found = r
					return true
				}
			}
		}
		return false
	})
	return found
}

// waitRecorded waits until the dispatcher has recorded the three copies
// of approval id (bot, webhook, Teams), which happens just after each
// platform answered. A decision made before that would not find the copy
// to update: the fakes having the message is not enough.
func (e *e2eHost) waitRecorded(t *testing.T, id string) {
	t.Helper()
	eventually(t, "the copies of "+id+" to be recorded", func() bool {
		posts, err := e.app.store.ListPosts(t.Context(), defaultOrg, id)
		require.NoError(t, err)
		return len(posts) == 3
	})
}

// waitWebhookPost waits for the Slack webhook message mentioning title.
func (e *e2eHost) waitWebhookPost(t *testing.T, title string) notifytest.Request {
	t.Helper()
	var found notifytest.Request
	eventually(t, "the Slack webhook message "+title, func() bool {
		for _, r := range e.fake.Requests() {
			if r.Method == "webhook" && r.Path == e.hookPath && r.Answer == http.StatusOK && strings.Contains(r.AllText, title) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// waitTeams waits for a message delivered to the Teams channel whose
// text (see TeamsRequest.AllText) match accepts, and returns it.
func (e *e2eHost) waitTeams(t *testing.T, what string, match func(r notifytest.Request, text string) bool) notifytest.Request {
	t.Helper()
	var found notifytest.Request
	eventually(t, what, func() bool {
		for _, r := range e.fake.Requests() {
			if r.Path == e.teamsPath && r.Answer/100 == 2 && match(r, r.AllText) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// waitTeamsCard waits for the Teams card of the request titled title.
func (e *e2eHost) waitTeamsCard(t *testing.T, title string) notifytest.Request {
	t.Helper()
	return e.waitTeams(t, "the Teams card "+title, func(r notifytest.Request, text string) bool {
		return strings.Contains(text, title) && len(r.Buttons) > 0
	})
}

// waitTeamsResult waits for the follow-up result card of approval id.
func (e *e2eHost) waitTeamsResult(t *testing.T, id string) notifytest.Request {
	t.Helper()
	return e.waitTeams(t, "the Teams result card of "+id, func(_ notifytest.Request, text string) bool {
		return strings.Contains(text, id) && (strings.Contains(text, "APPROVED") || strings.Contains(text, "DENIED"))
	})
}

// message returns the message ts of channel as it stands on the fake.
func (e *e2eHost) message(channel, ts string) notifytest.Message {
	for _, m := range e.fake.Messages() {
		if m.Channel == channel && m.TS == ts {
			return m
		}
	}
	return notifytest.Message{}
}

// clickPayload is the form body Slack sends when user clicks the button
// actionID (valued value) of the bot message ts, in the shape of
// Slack's reference block_actions sample (protocol.md §2), with
// responseURL as its response_url.
func (e *e2eHost) clickPayload(responseURL, ts, blockID, actionID, value string, user map[string]any) []byte {
	now := time.Now()
	p := map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": "T0E2E", "domain": "example"},
		"user":       user,
		"api_app_id": "A0E2E",
		"token":      "9s8d9as89d8as9d8as989",
		"container": map[string]any{
			"type": "message", "message_ts": ts, "channel_id": e.slackChannel,
			"is_ephemeral": false,
		},
		"trigger_id": fmt.Sprintf("%d.333649436676.d8c1bb837935619ccad0f624c448ffb3", now.Unix()),
		"channel":    map[string]any{"id": e.slackChannel, "name": "security-approvals"},
		"message": map[string]any{
			"type": "message", "bot_id": "B0E2E", "user": "U0E2EBOT", "text": "Approval requested", "ts": ts,
		},
		"response_url": responseURL,
		"actions": []any{map[string]any{
			"type": "button", "action_id": actionID, "block_id": blockID, "value": value,
			"text":      map[string]any{"type": "plain_text", "text": "Approve", "emoji": true},
			"action_ts": fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000),
		}},
	}
	b, _ := json.Marshal(p)
	return []byte("payload=" + url.QueryEscape(string(b)))
}

// postClick POSTs a click's form body with the given headers to the
// Slack interactions endpoint.
func (e *e2eHost) postClick(t *testing.T, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", e.url+approval.SlackInteractionsPath, strings.NewReader(string(body)))
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp.StatusCode, readAll(t, resp)
}

// actionsBlockID returns the block_id of the actions block holding the
// Approve button.
func actionsBlockID(t *testing.T, blocks []map[string]any) string {
	t.Helper()
	_, id, ok := findButton(blocks, approveAction)
	require.True(t, ok, "no Approve button in %v", blocks)
	return id
}

// teamsLinks returns the OpenUrl actions of a Teams message by title.
func teamsLinks(r notifytest.Request) map[string]string {
	links := map[string]string{}
	for _, a := range r.Buttons {
		if a.Type == "Action.OpenUrl" {
			links[a.Text] = a.URL
		}
	}
	return links
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
