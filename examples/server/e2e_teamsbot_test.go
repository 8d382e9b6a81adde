package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/teams"
	"github.com/chatnotify/chatnotify/teams/botauth/botauthtest"
)

// The Teams bot route end to end, over real HTTP, as a host runs it: the
// example configured with a bot (TEAMS_APP_ID, TEAMS_APP_SECRET,
// TEAMS_APP_TENANT) whose Entra token endpoint and Bot Connector are a
// notifytest fake, and whose requests are signed by a fake Bot Framework
// issuer (TEAMS_TOKEN_URL, TEAMS_OPENID_METADATA_URL, loopback with
// ALLOW_INSECURE_URLS=1). The bot is added to a team (conversationUpdate),
// the admin picks the conversation from the settings API, an approval
// request is posted as a 1.5 card with Execute buttons, and a click
// decides it in the card: the invoke's answer is the result card, and
// the same card is PUT over the bot's copy while the Slack copy is
// rewritten. Run on each store the example supports.

// The Teams user who clicks, as the Bot Connector names them.
const (
	botUserName = "Megan Bowen"
	botUserAAD  = "6de8a1e3-1f4b-4d1c-9a7e-2b4f3c9d8e71"
)

// botHost is a test host with a Teams bot: the bot's fake is its own
// notifytest server (newTestHost makes the Slack one before the app
// reads its environment), and issuer signs the bot's requests.
type botHost struct {
	*testHost
	bot    *notifytest.Server
	issuer *botauthtest.Issuer
	logs   *syncbuf.Buffer
}

func newBotHost(t *testing.T, dsn string, env map[string]string) *botHost {
	t.Helper()
	bot := notifytest.New()
	t.Cleanup(bot.Close)
	tb := bot.TeamsBot()
	issuer := botauthtest.NewIssuer(t, tb.AppID)
	vars := map[string]string{
		"DATABASE_URL":              dsn,
		"TEAMS_APP_ID":              tb.AppID,
		"TEAMS_APP_SECRET":          tb.AppSecret,
		"TEAMS_APP_TENANT":          tb.Tenant,
		"TEAMS_TOKEN_URL":           tb.TokenURL,
		"TEAMS_OPENID_METADATA_URL": issuer.MetadataURL(),
	}
	for k, v := range env {
		vars[k] = v
	}
	logs := &syncbuf.Buffer{}
	h := newTestHostLogging(t, vars, slog.New(slog.NewTextHandler(logs, nil)))
	return &botHost{testHost: h, bot: bot, issuer: issuer, logs: logs}
}

// activity returns an activity of type kind in conversation conv, sent
// by the fake Teams user, in the shape of the Bot Connector's.
func (b *botHost) activity(kind, conv string) map[string]any {
	tb := b.bot.TeamsBot()
	return map[string]any{
		"type":       kind,
		"id":         "f:1234567890",
		"channelId":  "msteams",
		"serviceUrl": tb.ServiceURL,
		"from":       map[string]any{"id": "29:1abcdefghij", "name": botUserName, "aadObjectId": botUserAAD},
		"conversation": map[string]any{
			"isGroup": true, "conversationType": "channel", "tenantId": tb.Tenant, "id": conv,
		},
		"recipient":   map[string]any{"id": "28:" + tb.AppID, "name": "chatnotify"},
		"channelData": map[string]any{"tenant": map[string]any{"id": tb.Tenant}},
	}
}

// botAdded is the conversationUpdate of the bot added to a team, the
// user picking channel conv (MicrosoftDocs, "Team members added").
func (b *botHost) botAdded(conv string) map[string]any {
	a := b.activity("conversationUpdate", conv)
	a["conversation"].(map[string]any)["name"] = "Approvals"
	a["membersAdded"] = []any{map[string]any{"id": "28:" + b.bot.TeamsBot().AppID}}
	a["channelData"] = map[string]any{
		"settings":  map[string]any{"selectedChannel": map[string]any{"id": conv}},
		"team":      map[string]any{"id": "19:team0e2e@thread.tacv2", "name": "Contoso Security", "aadGroupId": "f3ec8cd2-e704-4344-8c47-9a3a21d683c0"},
		"eventType": "teamMemberAdded",
		"tenant":    map[string]any{"id": b.bot.TeamsBot().Tenant},
	}
	return a
}

// click is the adaptiveCard/action invoke of a click on the button verb
// of the card activityID, carrying the button's data.
func (b *botHost) click(conv, activityID, verb string, data map[string]any) map[string]any {
	a := b.activity("invoke", conv+";messageid="+activityID)
	a["name"] = "adaptiveCard/action"
	a["replyToId"] = activityID
	a["value"] = map[string]any{
		"action":  map[string]any{"type": "Action.Execute", "id": "", "verb": verb, "data": data},
		"trigger": "manual",
	}
	return a
}

// token is a Bearer header with a valid token for the fake's service URL,
// changed by m.
func (b *botHost) token(m botauthtest.Mint) string {
	if m.ServiceURL == "" {
		m.ServiceURL = b.bot.TeamsBot().ServiceURL
	}
	return "Bearer " + b.issuer.Token(m)
}

// postActivity POSTs activity to the bot's messaging endpoint with the
// Authorization header auth ("" for none).
func (b *botHost) postActivity(t *testing.T, auth string, activity map[string]any) reply {
	t.Helper()
	body, err := json.Marshal(activity)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), "POST", b.url+approval.TeamsBotMessagesPath, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: []byte(readAll(t, resp))}
}

// connector returns the fake Bot Connector's requests of method
// ("sendToConversation", "updateActivity") that it answered with 2xx.
func (b *botHost) connector(method string) []notifytest.Request {
	var out []notifytest.Request
	for _, r := range b.bot.Requests() {
		if r.Method == method && r.Answer/100 == 2 {
			out = append(out, r)
		}
	}
	return out
}

// conversations lists the bot's conversations through the settings API.
func (b *botHost) conversations(t *testing.T) []teams.Conversation {
	t.Helper()
	r := b.admin(t, "GET", "/v1/settings/notifications/teams/conversations", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var out struct {
		Conversations []teams.Conversation `json:"conversations"`
	}
	r.decode(t, &out)
	return out.Conversations
}

func TestTeamsBotEndToEnd(t *testing.T) {
	for _, st := range testStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			b := newBotHost(t, st.dsn(t), nil)
			const conv = "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2"

			// Discovery: the bot is added to a channel; the admin picks it.
			r := b.postActivity(t, b.token(botauthtest.Mint{}), b.botAdded(conv))
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			convs := b.conversations(t)
			require.Len(t, convs, 1)
			picked := convs[0]
			assert.Equal(t, conv, picked.ConversationID)
			assert.Equal(t, b.bot.TeamsBot().ServiceURL, picked.ServiceURL)
			assert.Equal(t, b.bot.TeamsBot().Tenant, picked.TenantID)
			assert.Equal(t, "Contoso Security", picked.TeamName)
			assert.Equal(t, "Approvals", picked.Name)
			assert.False(t, picked.Removed)
			assert.Equal(t, http.StatusForbidden, b.call(t, "GET", "/v1/settings/notifications/teams/conversations", testViewerToken, nil).Status,
				"the list is for admins")

			botID := b.createChannel(t, map[string]any{
				"channel_type": "teams", "name": "Teams Bot Approvals",
				"config": map[string]any{"service_url": picked.ServiceURL, "conversation_id": picked.ConversationID, "tenant_id": picked.TenantID},
			})
			b.botChannel(t, "Security Approvals", "C0E2EBOT01")
			got := b.admin(t, "GET", "/v1/settings/notifications/"+botID, nil)
			require.Equal(t, http.StatusOK, got.Status)
			assert.NotContains(t, string(got.Body), b.bot.TeamsBot().AppSecret)

			// The request is posted as a 1.5 card with Execute buttons.
			req := b.createApproval(t, map[string]any{
				"title": "Grant production database access", "risk_score": 91, "agent": "db-admin-bot",
				"requested_by": "alice@example.com", "expires_in_seconds": 3600,
			})
			var post notifytest.Request
			eventually(t, "the bot's card", func() bool {
				for _, p := range b.connector("sendToConversation") {
					if strings.Contains(p.AllText, req.ID) {
						post = p
						return true
					}
				}
				return false
			})
			assert.Equal(t, conv, post.Channel)
			require.Len(t, post.Cards, 1)
			assert.Equal(t, "1.5", post.Cards[0]["version"])
			buttons := map[string]notifytest.Button{}
			for _, btn := range post.Buttons {
				if btn.Type == "Action.Execute" {
					buttons[btn.Verb] = btn
				}
			}
			require.Contains(t, buttons, "approve")
			require.Contains(t, buttons, "deny")
			approve := buttons["approve"]
			assert.Equal(t, map[string]any{"action": "approve", "approval_id": req.ID}, approve.Data)
			assert.Equal(t, "Action.Submit", approve.Fallback)
			eventually(t, "both copies recorded", func() bool {
				posts, err := b.app.store.ListPosts(t.Context(), defaultOrg, req.ID)
				require.NoError(t, err)
				return len(posts) == 2
			})
			slackPost := b.waitSlackPost(t, req.ID)

			// Refused: nothing decided, nothing audited.
			invoke := b.click(conv, post.ActivityID, "approve", approve.Data)
			for name, auth := range map[string]string{
				"no token":              "",
				"another bot's token":   b.token(botauthtest.Mint{AppID: "00000000-0000-4000-8000-0000000e0e0e"}),
				"expired token":         b.token(botauthtest.Mint{Expiry: -10 * time.Minute}),
				"another serviceUrl":    b.token(botauthtest.Mint{ServiceURL: "https://smba.trafficmanager.net/emea/"}),
				"key never published":   b.token(botauthtest.Mint{UnknownKey: true}),
				"unsigned (alg: none)":  b.token(botauthtest.Mint{Alg: "none"}),
				"tampered signature":    tamperToken(b.token(botauthtest.Mint{})),
				"HS256 with public key": b.token(botauthtest.Mint{Alg: "HS256"}),
			} {
				r := b.postActivity(t, auth, invoke)
				assert.Equal(t, http.StatusForbidden, r.Status, "%s: %s", name, r.Body)
				assert.NotContains(t, string(r.Body), "APPROVED", name)
			}
			assert.Equal(t, approval.StatusPending, b.getApproval(t, req.ID).Status)
			assert.Empty(t, b.audit(t, "?approval_id="+req.ID))

			// A valid click decides, once, and answers the result card.
			r = b.postActivity(t, b.token(botauthtest.Mint{}), invoke)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			var answer struct {
				StatusCode int            `json:"statusCode"`
				Type       string         `json:"type"`
				Value      map[string]any `json:"value"`
			}
			r.decode(t, &answer)
			assert.Equal(t, http.StatusOK, answer.StatusCode)
			assert.Equal(t, "application/vnd.microsoft.card.adaptive", answer.Type)
			assert.Equal(t, "1.5", answer.Value["version"])
			text := string(r.Body)
			assert.Contains(t, text, `"style":"good"`)
			assert.Contains(t, text, "**APPROVED** by "+botUserName)
			assert.NotContains(t, text, "Action.Execute", "the result card has no buttons")

			decided := b.getApproval(t, req.ID)
			assert.Equal(t, approval.StatusApproved, decided.Status)
			assert.Equal(t, botUserName, decided.ReviewedBy)
			assert.Equal(t, botUserAAD, decided.ReviewerID)
			assert.Equal(t, approval.SourceTeams, decided.ReviewSource)
			entries := b.audit(t, "?approval_id="+req.ID)
			require.Len(t, entries, 1)
			assert.Equal(t, botUserName, entries[0].Actor)
			assert.Equal(t, botUserAAD, entries[0].ActorID, "the audit names the verified aadObjectId")
			assert.True(t, entries[0].Verified)
			assert.Equal(t, approval.SourceTeams, entries[0].Source)

			// Every copy is brought up to date: the Slack message rewritten,
			// the bot's card PUT with the very card the click answered.
			eventually(t, "the Slack copy rewritten", func() bool {
				m := b.message("C0E2EBOT01", slackPost.TS)
				return strings.Contains(strings.Join(m.Edits, ","), "chat.update") && strings.Contains(m.Text, "APPROVED")
			})
			var put notifytest.Request
			eventually(t, "the PUT of the bot's card", func() bool {
				puts := b.connector("updateActivity")
				if len(puts) > 0 {
					put = puts[0]
				}
				return len(puts) > 0
			})
			assert.Equal(t, post.ActivityID, put.ActivityID)
			assert.Equal(t, conv, put.Channel)
			require.Len(t, put.Cards, 1)
			assert.Equal(t, answer.Value, put.Cards[0], "the PUT shows the card the click was answered with: the card changes once")

			// Teams retries, reviewers click again: the same card, no
			// second decision.
			for _, verb := range []string{"approve", "deny"} {
				r := b.postActivity(t, b.token(botauthtest.Mint{}), b.click(conv, post.ActivityID, verb, buttons[verb].Data))
				require.Equal(t, http.StatusOK, r.Status)
				var again struct {
					Value map[string]any `json:"value"`
				}
				r.decode(t, &again)
				assert.Equal(t, answer.Value, again.Value, verb)
			}
			assert.Len(t, b.audit(t, "?approval_id="+req.ID), 1)
			assert.Len(t, b.connector("updateActivity"), 1, "a repeated click changes no copy")

			// The secret never appears in a log line.
			assert.NotContains(t, b.logs.String(), b.bot.TeamsBot().AppSecret)
		})
	}
}

// waitSlackPost waits for the Slack bot's chat.postMessage of approval
// id and returns it.
func (b *botHost) waitSlackPost(t *testing.T, id string) notifytest.Request {
	t.Helper()
	var found notifytest.Request
	eventually(t, "the Slack message of "+id, func() bool {
		for _, r := range b.requests("chat.postMessage") {
			if r.Answer == http.StatusOK && strings.Contains(r.AllText, id) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// message returns the message ts of a Slack channel as it stands on the
// fake.
func (b *botHost) message(channel, ts string) notifytest.Message {
	for _, m := range b.fake.Messages() {
		if m.Channel == channel && m.TS == ts {
			return m
		}
	}
	return notifytest.Message{}
}

// tamperToken changes one character in the middle of a bearer JWT's
// signature.
func tamperToken(auth string) string {
	i := strings.LastIndexByte(auth, '.') + 10
	c := byte('A')
	if auth[i] == 'A' {
		c = 'B'
	}
	return auth[:i] + string(c) + auth[i+1:]
}

// A removed bot: the conversationUpdate marks the conversation removed in
// the list, and a post there fails with a reason that says what to do,
// not an HTTP code.
func TestTeamsBotRemoved(t *testing.T) {
	b := newBotHost(t, "memory:", nil)
	const conv = "19:removed0e2e@thread.tacv2"
	require.Equal(t, http.StatusOK, b.postActivity(t, b.token(botauthtest.Mint{}), b.botAdded(conv)).Status)
	c := b.conversations(t)[0]
	id := b.createChannel(t, map[string]any{
		"channel_type": "teams", "name": "Teams Bot",
		"config": map[string]any{"service_url": c.ServiceURL, "conversation_id": c.ConversationID, "tenant_id": c.TenantID},
	})

	removed := b.activity("conversationUpdate", conv)
	removed["membersRemoved"] = []any{map[string]any{"id": "28:" + b.bot.TeamsBot().AppID}}
	removed["channelData"].(map[string]any)["eventType"] = "teamMemberRemoved"
	require.Equal(t, http.StatusOK, b.postActivity(t, b.token(botauthtest.Mint{}), removed).Status)
	b.bot.RemoveBot(conv)
	convs := b.conversations(t)
	require.Len(t, convs, 1)
	assert.True(t, convs[0].Removed)

	r := b.admin(t, "POST", "/v1/settings/notifications/"+id+"/test", map[string]any{})
	assert.Equal(t, http.StatusBadGateway, r.Status)
	assert.Contains(t, r.errorText(t), "the bot was removed from this Teams conversation: add it again or pick another conversation")
}

// A tenant the server serves no organisation in is refused: its
// conversations are not recorded and its clicks decide nothing.
func TestTeamsBotOtherTenantRefused(t *testing.T) {
	const other = "11111111-2222-4333-8444-555555555555"
	added := func(b *botHost) map[string]any {
		a := b.botAdded("19:othertenant@thread.tacv2")
		a["channelData"].(map[string]any)["tenant"] = map[string]any{"id": other}
		a["conversation"].(map[string]any)["tenantId"] = other
		return a
	}
	b := newBotHost(t, "memory:", nil)
	assert.Equal(t, http.StatusForbidden, b.postActivity(t, b.token(botauthtest.Mint{}), added(b)).Status)
	assert.Empty(t, b.conversations(t))

	t.Run("unless TEAMS_TENANT_ORGS maps it", func(t *testing.T) {
		b := newBotHost(t, "memory:", map[string]string{"TEAMS_TENANT_ORGS": strings.ToUpper(other) + "=default"})
		assert.Equal(t, http.StatusOK, b.postActivity(t, b.token(botauthtest.Mint{}), added(b)).Status)
		assert.Len(t, b.conversations(t), 1)
	})
}

// Without the bot's credentials the endpoint answers 503 and says why,
// and the conversations endpoint does not exist.
func TestTeamsBotEndpointWithoutBot(t *testing.T) {
	h := newTestHost(t, nil)
	r := h.call(t, "POST", approval.TeamsBotMessagesPath, "", map[string]any{"type": "invoke"})
	assert.Equal(t, http.StatusServiceUnavailable, r.Status)
	assert.Equal(t, teamsBotDisabled, r.errorText(t))
	assert.Equal(t, http.StatusNotFound, h.admin(t, "GET", "/v1/settings/notifications/teams/conversations", nil).Status)
}

// The bot's settings are checked at start, with errors that name the
// variable and never the secret.
func TestTeamsBotConfiguration(t *testing.T) {
	const secret = "s3cr3t~not-to-be-printed"
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"secret without app ID", map[string]string{"TEAMS_APP_SECRET": secret}, "must be set together"},
		{"no tenant", map[string]string{"TEAMS_APP_ID": "a", "TEAMS_APP_SECRET": secret}, "must be set together"},
		{"tenant map without bot", map[string]string{"TEAMS_TENANT_ORGS": "t=default"}, "need the Teams bot"},
		{"malformed tenant map", map[string]string{"TEAMS_APP_ID": "a", "TEAMS_APP_SECRET": secret, "TEAMS_APP_TENANT": "t", "TEAMS_TENANT_ORGS": "t"}, "is not TENANT_ID=ORG"},
		{"http metadata", map[string]string{"TEAMS_APP_ID": "a", "TEAMS_APP_SECRET": secret, "TEAMS_APP_TENANT": "t",
			"TEAMS_OPENID_METADATA_URL": "http://metadata.example/x"}, "must be an https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": "memory:"}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg := loadConfig(func(k string) string { return env[k] })
			_, err := newApp(t.Context(), cfg, slog.New(slog.DiscardHandler))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}
