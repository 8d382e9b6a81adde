package notifytest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	goteamsnotify "github.com/atc0005/go-teams-notify/v2"
	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify/notifytest"
)

func newServer(t *testing.T) (*notifytest.Server, *slack.Client) {
	t.Helper()
	s := notifytest.New()
	t.Cleanup(s.Close)
	return s, slack.New("xoxb-test", slack.OptionAPIURL(s.SlackAPIURL()))
}

// post POSTs a JSON body to u and returns the status, body and headers.
func post(t *testing.T, u, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
}

func section(text string) slack.MsgOption {
	return slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil))
}

func blockText(t *testing.T, m notifytest.Message) string {
	t.Helper()
	require.Len(t, m.Blocks, 1)
	return m.Blocks[0]["text"].(map[string]any)["text"].(string)
}

func TestSlackWebAPI(t *testing.T) {
	s, api := newServer(t)
	blocks := slack.MsgOptionBlocks(slack.NewActionBlock("a",
		slack.NewButtonBlockElement("approve_action", "apr-1", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).WithStyle(slack.StylePrimary)))

	t.Run("chat.postMessage: token in the form, ok with channel and ts", func(t *testing.T) {
		ch, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("hello", false), blocks)
		require.NoError(t, err)
		assert.Equal(t, "C1", ch)
		assert.NotEmpty(t, ts)
		r := s.Requests()[0]
		assert.Equal(t, "chat.postMessage", r.Method)
		assert.Equal(t, "xoxb-test", r.Token)
		assert.Contains(t, string(r.Body), "token=xoxb-test", "form-encoded, token in the body")
		assert.Equal(t, "hello", r.Text)
		assert.Equal(t, ts, r.TS)
		assert.Equal(t, 200, r.Answer)
		assert.Equal(t, []notifytest.Button{{Type: "button", ActionID: "approve_action", Text: "Approve", Value: "apr-1", Style: "primary"}}, r.Buttons)
		assert.Contains(t, r.AllText, "Approve")

		_, _, _, err = api.UpdateMessageContext(t.Context(), "C1", ts, slack.MsgOptionText("done", false))
		require.NoError(t, err)
		up := s.Requests()[1]
		assert.Equal(t, "chat.update", up.Method)
		assert.Equal(t, ts, up.TS)
	})
	t.Run("chat.update of an unknown message", func(t *testing.T) {
		_, _, _, err := api.UpdateMessageContext(t.Context(), "C1", "1.1", slack.MsgOptionText("x", false))
		var se slack.SlackErrorResponse
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "message_not_found", se.Err)
	})
	t.Run("a missing token is not_authed", func(t *testing.T) {
		_, _, err := slack.New("", slack.OptionAPIURL(s.SlackAPIURL())).PostMessageContext(t.Context(), "C1", slack.MsgOptionText("x", false))
		assert.EqualError(t, err, "not_authed")
	})
	t.Run("faults: platform error, 429, 5xx, then normal again", func(t *testing.T) {
		s.FailNext(1, notifytest.PlatformError("not_in_channel"))
		s.FailNext(1, notifytest.RateLimited(3*time.Second))
		s.FailNext(2, notifytest.Fault{Status: 503})
		_, _, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("x", false))
		assert.EqualError(t, err, "not_in_channel")
		_, _, err = api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("x", false))
		var rl *slack.RateLimitedError
		require.ErrorAs(t, err, &rl)
		assert.Equal(t, 3*time.Second, rl.RetryAfter)
		for range 2 {
			_, _, err = api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("x", false))
			var sc slack.StatusCodeError
			require.ErrorAs(t, err, &sc)
			assert.Equal(t, 503, sc.Code)
		}
		_, _, err = api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("x", false))
		assert.NoError(t, err)
	})
	t.Run("a fault for one method waits for a request of that method", func(t *testing.T) {
		s.FailNext(1, notifytest.Fault{Method: "chat.update", Error: "cant_update_message"})
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("x", false))
		require.NoError(t, err, "a post is not an update")
		_, _, _, err = api.UpdateMessageContext(t.Context(), "C1", ts, slack.MsgOptionText("y", false))
		assert.EqualError(t, err, "cant_update_message")
	})
}

func TestSlackWebhook(t *testing.T) {
	s, _ := newServer(t)
	u := s.SlackWebhookURL("XXXX")
	assert.True(t, strings.HasPrefix(u, strings.TrimSuffix(s.SlackAPIURL(), "/api/")+"/services/"))

	status, body, _ := post(t, u, `{"text":"hi","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*hi*"}}]}`)
	assert.Equal(t, 200, status)
	assert.Equal(t, "ok", body)
	r := s.Requests()[0]
	assert.Equal(t, "webhook", r.Method)
	assert.Equal(t, "/services/T00000000/B00000000/XXXX", r.Path)
	assert.Contains(t, r.AllText, "*hi*")

	for _, c := range []struct {
		fault  notifytest.Fault
		status int
		body   string
	}{
		{notifytest.PlatformError("no_service"), 404, "no_service"},
		{notifytest.PlatformError("channel_is_archived"), 410, "channel_is_archived"},
		{notifytest.PlatformError("action_prohibited"), 403, "action_prohibited"},
		{notifytest.PlatformError("invalid_payload"), 400, "invalid_payload"},
		{notifytest.PlatformError("team_disabled"), 400, "team_disabled"},
		{notifytest.Fault{Status: 403, Error: "channel_is_archived"}, 403, "channel_is_archived"},
	} {
		s.FailNext(1, c.fault)
		status, body, _ := post(t, u, `{"text":"x"}`)
		assert.Equal(t, c.status, status, c.body)
		assert.Equal(t, c.body, body)
	}
	s.FailNext(1, notifytest.RateLimited(1500*time.Millisecond))
	status, _, h := post(t, u, `{"text":"x"}`)
	assert.Equal(t, 429, status)
	assert.Equal(t, "2", h.Get("Retry-After"), "rounded up to whole seconds")

	s.FailNext(1, notifytest.Fault{Status: 429, RetryAfter: 90 * time.Second, RetryAfterDate: true})
	status, _, h = post(t, u, `{"text":"x"}`)
	assert.Equal(t, 429, status)
	at, err := http.ParseTime(h.Get("Retry-After"))
	require.NoError(t, err, "an HTTP date")
	assert.WithinDuration(t, time.Now().Add(90*time.Second), at, 3*time.Second)

	s.FailNext(1, notifytest.Fault{})
	status, body, _ = post(t, u, `{"text":"x"}`)
	assert.Equal(t, 503, status, "the zero Fault")
	assert.Contains(t, body, "<html>")

	status, body, _ = post(t, u, `not json`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "invalid_payload", body)
	status, body, _ = post(t, u, `{}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "no_text", body)
}

func TestMessagesAndResponseURLs(t *testing.T) {
	t.Run("chat.update replaces the posted message in place", func(t *testing.T) {
		s, api := newServer(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false), section("*Approve?*"))
		require.NoError(t, err)
		_, _, err = api.PostMessageContext(t.Context(), "C2", slack.MsgOptionText("elsewhere", false))
		require.NoError(t, err)
		_, _, _, err = api.UpdateMessageContext(t.Context(), "C1", ts, slack.MsgOptionText("done", false), section("*APPROVED*"))
		require.NoError(t, err)
		msgs := s.Messages()
		require.Len(t, msgs, 2)
		assert.Equal(t, "C1", msgs[0].Channel)
		assert.Equal(t, ts, msgs[0].TS)
		assert.Equal(t, "done", msgs[0].Text)
		assert.Equal(t, "*APPROVED*", blockText(t, msgs[0]))
		assert.Equal(t, []string{"chat.update"}, msgs[0].Edits)
		assert.False(t, msgs[0].Posted.IsZero())
		assert.Equal(t, "elsewhere", msgs[1].Text)
		assert.Empty(t, msgs[1].Edits)
	})
	t.Run("chat.update without blocks keeps them, with an empty list removes them", func(t *testing.T) {
		s, api := newServer(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("v1", false), section("kept"))
		require.NoError(t, err)
		_, _, _, err = api.UpdateMessageContext(t.Context(), "C1", ts, slack.MsgOptionText("v2", false))
		require.NoError(t, err)
		m := s.Messages()[0]
		assert.Equal(t, "v2", m.Text)
		assert.Equal(t, "kept", blockText(t, m))
		_, _, _, err = api.UpdateMessageContext(t.Context(), "C1", ts, slack.MsgOptionText("v3", false), slack.MsgOptionBlocks())
		require.NoError(t, err)
		assert.Empty(t, s.Messages()[0].Blocks)
	})
	t.Run("response_url replace_original replaces, with a bool or a string", func(t *testing.T) {
		s, api := newServer(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false), section("*Approve?*"))
		require.NoError(t, err)
		u := s.ResponseURL("C1", ts)
		_, _, _, err = api.SendMessageContext(t.Context(), "", slack.MsgOptionReplaceOriginal(u), slack.MsgOptionText("replaced", false), section(":white_check_mark: *APPROVED* by amy"))
		require.NoError(t, err, "slack-go's own response_url client accepts the answer")
		m := s.Messages()[0]
		assert.Equal(t, "replaced", m.Text)
		assert.Equal(t, ":white_check_mark: *APPROVED* by amy", blockText(t, m))

		status, body, h := post(t, u, `{"replace_original":"true","text":"again"}`)
		assert.Equal(t, http.StatusOK, status)
		assert.JSONEq(t, `{"ok":true}`, body)
		assert.Contains(t, h.Get("Content-Type"), "application/json")
		m = s.Messages()[0]
		assert.Equal(t, "again", m.Text)
		assert.Equal(t, ":white_check_mark: *APPROVED* by amy", blockText(t, m), "a replacement without blocks keeps them")
		assert.Equal(t, []string{"response_url", "response_url"}, m.Edits)

		reqs := s.Requests()
		last := reqs[len(reqs)-1]
		assert.Equal(t, "response_url", last.Method)
		assert.Equal(t, "C1", last.Channel)
		assert.Equal(t, ts, last.TS)
		assert.True(t, last.ReplaceOriginal)
		assert.Equal(t, http.StatusOK, last.Answer)
	})
	t.Run("response_url without replace_original adds a message, ephemeral by default", func(t *testing.T) {
		s, api := newServer(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false))
		require.NoError(t, err)
		u := s.ResponseURL("C1", ts)
		for _, body := range []string{
			`{"response_type":"ephemeral","replace_original":false,"text":":warning: Already approved"}`,
			`{"response_type":"in_channel","text":"for everyone"}`,
		} {
			status, _, _ := post(t, u, body)
			require.Equal(t, http.StatusOK, status)
		}
		msgs := s.Messages()
		require.Len(t, msgs, 3)
		assert.Equal(t, "asking", msgs[0].Text, "the original is untouched")
		assert.Equal(t, ":warning: Already approved", msgs[1].Text)
		assert.True(t, msgs[1].Ephemeral)
		assert.Equal(t, "C1", msgs[1].Channel)
		assert.NotEqual(t, ts, msgs[1].TS)
		assert.Equal(t, "for everyone", msgs[2].Text)
		assert.False(t, msgs[2].Ephemeral)
		assert.Equal(t, "ephemeral", s.Requests()[1].ResponseType)
	})
	t.Run("response_url delete_original and refusals", func(t *testing.T) {
		s, api := newServer(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false))
		require.NoError(t, err)
		for _, tc := range []struct {
			name, url, body, code string
			status                int
		}{
			{"unknown message", s.ResponseURL("C1", "1.2"), `{"replace_original":true,"text":"x"}`, "message_not_found", http.StatusNotFound},
			{"not JSON", s.ResponseURL("C1", ts), `replace_original=true`, "invalid_payload", http.StatusBadRequest},
			{"no text", s.ResponseURL("C1", ts), `{"replace_original":true}`, "no_text", http.StatusBadRequest},
		} {
			status, body, _ := post(t, tc.url, tc.body)
			assert.Equal(t, tc.status, status, tc.name)
			assert.JSONEq(t, `{"ok":false,"error":"`+tc.code+`"}`, body, tc.name)
		}
		s.FailNext(1, notifytest.Fault{Method: "response_url", Error: "expired_url", Status: 404})
		status, body, _ := post(t, s.ResponseURL("C1", ts), `{"replace_original":true,"text":"x"}`)
		assert.Equal(t, 404, status)
		assert.JSONEq(t, `{"ok":false,"error":"expired_url"}`, body)
		s.FailNext(1, notifytest.Fault{Status: 503})
		status, _, _ = post(t, s.ResponseURL("C1", ts), `{"replace_original":true,"text":"x"}`)
		assert.Equal(t, 503, status)
		assert.Equal(t, "asking", s.Messages()[0].Text, "nothing refused changed the message")

		status, _, _ = post(t, s.ResponseURL("C1", ts), `{"delete_original":"true"}`)
		assert.Equal(t, http.StatusOK, status)
		assert.Empty(t, s.Messages())
	})
	t.Run("webhook and Teams messages are kept under their path, and Reset keeps messages", func(t *testing.T) {
		s, _ := newServer(t)
		status, _, _ := post(t, s.SlackWebhookURL("alerts"), `{"text":"drift!"}`)
		require.Equal(t, http.StatusOK, status)
		s.FailNext(1, notifytest.PlatformError("no_service"))
		status, _, _ = post(t, s.SlackWebhookURL("alerts"), `{"text":"lost"}`)
		require.Equal(t, http.StatusNotFound, status)
		status, _, _ = post(t, s.TeamsWebhookURL("t"), card)
		require.Equal(t, http.StatusOK, status)

		s.Reset()
		assert.Empty(t, s.Requests())
		msgs := s.Messages()
		require.Len(t, msgs, 2, "a refused post is not a message")
		assert.Equal(t, "/services/T00000000/B00000000/alerts", msgs[0].Channel)
		assert.Equal(t, "drift!", msgs[0].Text)
		assert.NotEmpty(t, msgs[0].TS)
		assert.Contains(t, msgs[1].Channel, "/IncomingWebhook/t/")
		require.Len(t, msgs[1].Cards, 1)
		assert.Contains(t, msgs[1].AllText, "Hello")
		assert.Equal(t, []notifytest.Button{{Type: "Action.OpenUrl", Text: "Open", URL: "https://example.com"}}, msgs[1].Buttons)
	})
}

const card = `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"Hello"}],"actions":[{"type":"Action.OpenUrl","title":"Open","url":"https://example.com"}]}}]}`

func TestTeams(t *testing.T) {
	s, _ := newServer(t)

	t.Run("legacy answers 200 1, Workflows 202", func(t *testing.T) {
		before := time.Now()
		status, body, _ := post(t, s.TeamsWebhookURL("a"), card)
		assert.Equal(t, 200, status)
		assert.Equal(t, "1", body)
		status, body, _ = post(t, s.TeamsWorkflowsURL("b"), card)
		assert.Equal(t, 202, status)
		assert.Empty(t, body)
		reqs := s.Requests()
		require.Len(t, reqs, 2)
		assert.Equal(t, "teams", reqs[0].Method)
		assert.Equal(t, "workflows", reqs[1].Method)
		assert.Contains(t, s.TeamsWorkflowsURL("b"), "sig=")
		assert.Equal(t, []notifytest.Button{{Type: "Action.OpenUrl", Text: "Open", URL: "https://example.com"}}, reqs[1].Buttons)
		assert.Contains(t, reqs[1].AllText, "Hello")
		assert.False(t, reqs[0].Received.Before(before))
		assert.False(t, reqs[0].Received.After(time.Now()))
	})
	t.Run("every Teams URL shape is served", func(t *testing.T) {
		base := strings.TrimSuffix(s.SlackAPIURL(), "/api/")
		for path, want := range map[string]int{
			"/webhook/00000000-0000-0000-0000-000000000000@tenant/IncomingWebhook/x/guid":      200,
			"/webhookb2/00000000-0000-0000-0000-000000000000@tenant/IncomingWebhook/x/guid":    200,
			"/workflows/x/triggers/manual/paths/invoke?sig=s":                                  202,
			"/powerautomate/automations/direct/workflows/x/triggers/manual/paths/invoke?sig=s": 202,
		} {
			status, _, _ := post(t, base+path, card)
			assert.Equal(t, want, status, path)
		}
	})
	t.Run("go-teams-notify accepts both answers", func(t *testing.T) {
		c := goteamsnotify.NewTeamsClient().SkipWebhookURLValidationOnSend(true)
		for _, u := range []string{s.TeamsWebhookURL("c"), s.TeamsWorkflowsURL("d")} {
			require.NoError(t, c.SendWithContext(t.Context(), u, rawMessage(card)))
		}
	})
	t.Run("faults", func(t *testing.T) {
		s.FailNext(1, notifytest.TeamsThrottled())
		status, body, _ := post(t, s.TeamsWebhookURL("a"), card)
		assert.Equal(t, 200, status)
		assert.Contains(t, body, "HTTP error 429")
		s.FailNext(1, notifytest.RateLimited(2*time.Second))
		status, _, h := post(t, s.TeamsWorkflowsURL("a"), card)
		assert.Equal(t, 429, status)
		assert.Equal(t, "2", h.Get("Retry-After"))
		s.FailNext(1, notifytest.PlatformError("Summary or Text is required."))
		status, body, _ = post(t, s.TeamsWebhookURL("a"), card)
		assert.Equal(t, 400, status)
		assert.Equal(t, "Summary or Text is required.", body)
		status, _, _ = post(t, s.TeamsWebhookURL("a"), `{"type":"message","attachments":[]}`)
		assert.Equal(t, 400, status, "a message without a card is refused")
	})
	t.Run("a hang ends when the client gives up", func(t *testing.T) {
		s.FailNext(1, notifytest.Fault{Delay: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.TeamsWebhookURL("a"), strings.NewReader(card))
		_, err := http.DefaultClient.Do(req)
		assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	})
	t.Run("Reset forgets requests and faults", func(t *testing.T) {
		s.FailNext(5, notifytest.Fault{})
		s.Reset()
		assert.Empty(t, s.Requests())
		status, _, _ := post(t, s.TeamsWebhookURL("a"), card)
		assert.Equal(t, 200, status)
	})
}

func TestSafeForConcurrentUse(t *testing.T) {
	s, _ := newServer(t)
	s.FailNext(10, notifytest.Fault{Method: "webhook"})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			resp, err := http.Post(s.SlackWebhookURL(fmt.Sprint(i)), "application/json", strings.NewReader(`{"text":"x"}`))
			if err == nil {
				resp.Body.Close()
			}
			resp, err = http.Post(s.TeamsWorkflowsURL(fmt.Sprint(i)), "application/json", bytes.NewReader([]byte(card)))
			if err == nil {
				resp.Body.Close()
			}
			_ = s.Requests()
			_ = s.Messages()
		})
	}
	wg.Wait()
	count := map[string]int{}
	failed := 0
	for _, r := range s.Requests() {
		count[r.Method]++
		if r.Answer == 503 {
			failed++
		}
	}
	assert.Equal(t, map[string]int{"webhook": 40, "workflows": 40}, count)
	assert.Equal(t, 10, failed, "each queued fault is used exactly once")
}

// rawMessage is a prepared JSON payload for go-teams-notify.
type rawMessage string

func (m rawMessage) Prepare() error     { return nil }
func (m rawMessage) Validate() error    { return nil }
func (m rawMessage) Payload() io.Reader { return strings.NewReader(string(m)) }
