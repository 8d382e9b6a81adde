package notifytest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// do sends one request and returns the status, the decoded JSON body and
// the headers.
func do(t *testing.T, method, u, contentType, body string, hdr map[string]string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	return resp.StatusCode, v, resp.Header
}

const form = "application/x-www-form-urlencoded"

func tokenForm(id, secret string) string {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		"scope": {"https://api.botframework.com/.default"}}.Encode()
}

// token gets a bot token from s.
func token(t *testing.T, s *notifytest.Server) string {
	t.Helper()
	bot := s.TeamsBot()
	st, v, _ := do(t, http.MethodPost, bot.TokenURL, form, tokenForm(bot.AppID, bot.AppSecret), nil)
	require.Equal(t, http.StatusOK, st, v)
	return v["access_token"].(string)
}

const botCard = `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"%s"}]}}]}`

func TestTeamsBotEntra(t *testing.T) {
	s, _ := newServer(t)
	bot := s.TeamsBot()
	id, secret, tokenURL := bot.AppID, bot.AppSecret, bot.TokenURL
	assert.True(t, strings.HasSuffix(tokenURL, "/"+bot.Tenant+"/oauth2/v2.0/token"))
	other := notifytest.New()
	defer other.Close()
	assert.NotEqual(t, secret, other.TeamsBot().AppSecret, "a secret per server")

	st, v, _ := do(t, http.MethodPost, tokenURL, form, tokenForm(id, secret), nil)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "Bearer", v["token_type"])
	assert.EqualValues(t, 3600, v["expires_in"])
	assert.NotEmpty(t, v["access_token"])

	for _, tc := range []struct {
		name, ctype, body string
		basic             bool
		status            int
		code, aadsts      string
	}{
		{"wrong secret", form, tokenForm(id, "nope"), false, 401, "invalid_client", "AADSTS7000215"},
		{"secret in Basic auth", form, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "scope": {"https://api.botframework.com/.default"}}.Encode(), true, 401, "invalid_client", "AADSTS7000218"},
		{"unknown app", form, tokenForm("someone-else", secret), false, 400, "unauthorized_client", "AADSTS700016"},
		{"JSON body", "application/json", `{}`, false, 400, "invalid_request", "AADSTS900144"},
		{"other grant", form, strings.Replace(tokenForm(id, secret), "client_credentials", "password", 1), false, 400, "unsupported_grant_type", "AADSTS70003"},
		{"other scope", form, strings.Replace(tokenForm(id, secret), "api.botframework.com", "graph.microsoft.com", 1), false, 400, "invalid_scope", "AADSTS70011"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.basic {
				hdr["Authorization"] = "Basic " + "aWQ6c2VjcmV0"
			}
			st, v, _ := do(t, http.MethodPost, tokenURL, tc.ctype, tc.body, hdr)
			assert.Equal(t, tc.status, st)
			assert.Equal(t, tc.code, v["error"])
			assert.True(t, strings.HasPrefix(v["error_description"].(string), tc.aadsts+":"), v["error_description"])
		})
	}
	var n int
	for _, r := range s.Requests() {
		if r.Method == "token" {
			n++
		}
	}
	assert.Equal(t, 7, n, "every token request recorded")
}

func TestTeamsBotConnector(t *testing.T) {
	s, _ := newServer(t)
	conv := "19:abc@thread.tacv2;messageid=42"
	base := s.TeamsBot().ServiceURL + "v3/conversations/" + url.PathEscape(conv) + "/activities"
	bearer := map[string]string{"Authorization": "Bearer " + token(t, s)}

	st, v, _ := do(t, http.MethodPost, base, "application/json", fmt.Sprintf(botCard, "pending"), nil)
	assert.Equal(t, http.StatusUnauthorized, st, "no token")
	assert.Equal(t, "Authorization has been denied for this request.", v["message"])
	st, _, _ = do(t, http.MethodPost, base, "application/json", fmt.Sprintf(botCard, "pending"), map[string]string{"Authorization": "Bearer made-up"})
	assert.Equal(t, http.StatusUnauthorized, st, "a token Entra did not issue")

	st, v, _ = do(t, http.MethodPost, base, "application/json", fmt.Sprintf(botCard, "pending"), bearer)
	require.Equal(t, http.StatusCreated, st)
	id := v["id"].(string)
	require.NotEmpty(t, id)

	st, v, _ = do(t, http.MethodPut, base+"/"+id, "application/json", fmt.Sprintf(botCard, "APPROVED"), bearer)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, id, v["id"])
	msgs := s.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, conv, msgs[0].Channel)
	assert.Equal(t, id, msgs[0].ActivityID)
	assert.Equal(t, "APPROVED", msgs[0].AllText, "replaced in place")
	assert.Equal(t, []string{"updateActivity"}, msgs[0].Edits)

	st, v, _ = do(t, http.MethodPut, base+"/999", "application/json", fmt.Sprintf(botCard, "x"), bearer)
	assert.Equal(t, http.StatusNotFound, st)
	assert.Equal(t, "ActivityNotFoundInConversation", v["error"].(map[string]any)["code"])
	st, _, _ = do(t, http.MethodPost, base, "application/json", `{"type":"typing"}`, bearer)
	assert.Equal(t, http.StatusBadRequest, st)
	st, _, _ = do(t, http.MethodPost, strings.Replace(base, "/amer/", "/", 1), "application/json", fmt.Sprintf(botCard, "x"), bearer)
	assert.Equal(t, http.StatusNotFound, st, "the region path is part of the service URL")

	t.Run("faults", func(t *testing.T) {
		s.FailNext(1, notifytest.RateLimited(2*time.Second))
		s.FailNext(1, notifytest.Fault{Method: "updateActivity", Status: 412})
		s.FailNext(1, notifytest.Fault{Method: "sendToConversation", Status: 502})
		st, v, h := do(t, http.MethodPost, base, "application/json", fmt.Sprintf(botCard, "x"), bearer)
		assert.Equal(t, http.StatusTooManyRequests, st)
		assert.Equal(t, "2", h.Get("Retry-After"))
		assert.Equal(t, "TooManyRequests", v["error"].(map[string]any)["code"])
		st, _, _ = do(t, http.MethodPost, base, "application/json", fmt.Sprintf(botCard, "x"), bearer)
		assert.Equal(t, http.StatusBadGateway, st, "the update fault waits for an update")
		st, _, _ = do(t, http.MethodPut, base+"/"+id, "application/json", fmt.Sprintf(botCard, "x"), bearer)
		assert.Equal(t, http.StatusPreconditionFailed, st)
	})

	t.Run("RemoveBot", func(t *testing.T) {
		s.RemoveBot(conv)
		for _, m := range []string{http.MethodPost, http.MethodPut} {
			u := base
			if m == http.MethodPut {
				u += "/" + id
			}
			st, v, _ := do(t, m, u, "application/json", fmt.Sprintf(botCard, "x"), bearer)
			assert.Equal(t, http.StatusForbidden, st)
			assert.Equal(t, map[string]any{"code": "BotNotInConversationRoster", "message": "The bot is not part of the conversation roster."}, v["error"])
		}
	})

	t.Run("expired tokens are refused", func(t *testing.T) {
		s.SetTokenLifetime(50 * time.Millisecond)
		short := map[string]string{"Authorization": "Bearer " + token(t, s)}
		time.Sleep(100 * time.Millisecond)
		st, _, _ := do(t, http.MethodPost, s.TeamsBot().ServiceURL+"v3/conversations/19:x@thread.tacv2/activities", "application/json", fmt.Sprintf(botCard, "x"), short)
		assert.Equal(t, http.StatusUnauthorized, st)
	})

	var methods []string
	for _, r := range s.Requests() {
		methods = append(methods, r.Method)
	}
	assert.Contains(t, methods, "sendToConversation")
	assert.Contains(t, methods, "updateActivity")
}

// A host's test sends an approval request to a Teams channel reached
// through the bot, with chatnotify's real sender and the fake's bot
// credentials, and sees the card with its Action.Execute buttons; the
// bot's removal from the conversation then gives a clear reason.
func Example_teamsBot() {
	fake := notifytest.New()
	defer fake.Close()

	bot := fake.TeamsBot()
	sender, err := notify.NewSender(&notify.SenderOptions{
		TeamsAppID:        bot.AppID,
		TeamsAppSecret:    bot.AppSecret,
		TeamsAppTenant:    bot.Tenant,
		TeamsTokenURL:     bot.TokenURL,
		AllowLoopbackURLs: true, // the fake listens on 127.0.0.1 over http
	})
	if err != nil {
		panic(err)
	}
	ch := notify.Channel{Type: notify.Teams, Name: "approvals", Config: notify.ChannelConfig{
		ServiceURL:     bot.ServiceURL,
		ConversationID: "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2",
		TenantID:       bot.Tenant,
	}}
	ctx := context.Background()
	ev := notify.ApprovalRequested{Request: approval.Request{ID: "req-42", Title: "Deploy to production", RiskScore: 80}}
	if _, err := sender.Send(ctx, ch, ev); err != nil {
		panic(err)
	}
	for _, m := range fake.Messages() {
		for _, b := range m.Buttons {
			fmt.Println(b.Type, b.Verb, b.Data["approval_id"], "fallback:", b.Fallback)
		}
	}

	fake.RemoveBot(ch.Config.ConversationID)
	_, err = sender.Send(ctx, ch, ev)
	fmt.Println(err)
	for _, r := range fake.Requests() {
		fmt.Println(strings.TrimSpace(fmt.Sprint(r.Method, " ", r.Answer, " ", r.Error)))
	}
	// Output:
	// Action.Execute approve req-42 fallback: Action.Submit
	// Action.Execute deny req-42 fallback: Action.Submit
	// notify: delivery failed (bot_not_in_conversation): the bot was removed from this Teams conversation: add it again or pick another conversation
	// token 200
	// sendToConversation 201
	// sendToConversation 403 BotNotInConversationRoster
}
