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

func TestSlackWebAPI(t *testing.T) {
	fake := notifytest.NewSlack()
	t.Cleanup(fake.Close)
	api := slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL()))
	blocks := slack.MsgOptionBlocks(slack.NewActionBlock("a",
		slack.NewButtonBlockElement("approve_action", "apr-1", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).WithStyle(slack.StylePrimary)))

	t.Run("chat.postMessage answers ok with channel and ts", func(t *testing.T) {
		ch, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("hello", false), blocks)
		require.NoError(t, err)
		assert.Equal(t, "C1", ch)
		assert.NotEmpty(t, ts)
		r := fake.Requests()[0]
		assert.Equal(t, "chat.postMessage", r.Method)
		assert.Equal(t, "xoxb-test", r.Token)
		assert.Equal(t, "hello", r.Text)
		assert.Equal(t, ts, r.TS)
		assert.Equal(t, []notifytest.SlackButton{{ActionID: "approve_action", Text: "Approve", Value: "apr-1", Style: "primary"}}, r.Buttons())
		assert.Contains(t, r.AllText(), "Approve")

		_, _, _, err = api.UpdateMessageContext(t.Context(), "C1", ts, slack.MsgOptionText("done", false))
		require.NoError(t, err)
		assert.Equal(t, 1, fake.Count("chat.update"))
		assert.Equal(t, ts, fake.Requests()[1].TS)
	})
	t.Run("chat.update of an unknown message", func(t *testing.T) {
		_, _, _, err := api.UpdateMessageContext(t.Context(), "C1", "1.1", slack.MsgOptionText("x", false))
		var se slack.SlackErrorResponse
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "message_not_found", se.Err)
	})
	t.Run("a missing token is not_authed", func(t *testing.T) {
		_, _, err := slack.New("", slack.OptionAPIURL(fake.APIURL())).PostMessageContext(t.Context(), "C1", slack.MsgOptionText("x", false))
		assert.EqualError(t, err, "not_authed")
	})
	t.Run("faults: platform error, 429, 5xx, then normal again", func(t *testing.T) {
		fake.FailNext(1, notifytest.PlatformError("not_in_channel"))
		fake.FailNext(1, notifytest.RateLimited(3*time.Second))
		fake.FailNext(2, notifytest.ServerError())
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
}

func post(t *testing.T, url, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

func TestSlackWebhook(t *testing.T) {
	fake := notifytest.NewSlack()
	t.Cleanup(fake.Close)
	u := fake.WebhookURL("XXXX")
	assert.True(t, strings.HasPrefix(u, fake.URL()+"/services/"))

	status, body, _ := post(t, u, `{"text":"hi","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*hi*"}}]}`)
	assert.Equal(t, 200, status)
	assert.Equal(t, "ok", body)
	r := fake.Requests()[0]
	assert.Equal(t, "webhook", r.Method)
	assert.Equal(t, "/services/T00000000/B00000000/XXXX", r.WebhookPath)
	assert.Contains(t, r.AllText(), "*hi*")

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
		fake.FailNext(1, c.fault)
		status, body, _ := post(t, u, `{"text":"x"}`)
		assert.Equal(t, c.status, status, c.body)
		assert.Equal(t, c.body, body)
	}
	fake.FailNext(1, notifytest.RateLimited(1500*time.Millisecond))
	status, _, h := post(t, u, `{"text":"x"}`)
	assert.Equal(t, 429, status)
	assert.Equal(t, "2", h.Get("Retry-After"), "rounded up to whole seconds")

	status, body, _ = post(t, u, `not json`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "invalid_payload", body)
	status, body, _ = post(t, u, `{}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "no_text", body)
}

func TestTeams(t *testing.T) {
	fake := notifytest.NewTeams()
	t.Cleanup(fake.Close)
	card := `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"Hello"}],"actions":[{"type":"Action.OpenUrl","title":"Open","url":"https://example.com"}]}}]}`

	t.Run("legacy answers 200 1, Workflows 202", func(t *testing.T) {
		status, body, _ := post(t, fake.LegacyURL("a"), card)
		assert.Equal(t, 200, status)
		assert.Equal(t, "1", body)
		status, _, _ = post(t, fake.WorkflowsURL("b"), card)
		assert.Equal(t, 202, status)
		reqs := fake.Requests()
		require.Len(t, reqs, 2)
		assert.False(t, reqs[0].Workflows)
		assert.True(t, reqs[1].Workflows)
		assert.Contains(t, fake.WorkflowsURL("b"), "sig=")
		assert.Equal(t, []notifytest.TeamsAction{{Type: "Action.OpenUrl", Title: "Open", URL: "https://example.com"}}, reqs[1].Actions())
		assert.Contains(t, reqs[1].AllText(), "Hello")
	})
	t.Run("go-teams-notify accepts both answers", func(t *testing.T) {
		c := goteamsnotify.NewTeamsClient().SkipWebhookURLValidationOnSend(true)
		for _, u := range []string{fake.LegacyURL("c"), fake.WorkflowsURL("d")} {
			require.NoError(t, c.SendWithContext(t.Context(), u, rawMessage(card)))
		}
	})
	t.Run("faults", func(t *testing.T) {
		fake.FailNext(1, notifytest.TeamsThrottled())
		status, body, _ := post(t, fake.LegacyURL("a"), card)
		assert.Equal(t, 200, status)
		assert.Contains(t, body, "HTTP error 429")
		fake.FailNext(1, notifytest.RateLimited(2*time.Second))
		status, _, h := post(t, fake.WorkflowsURL("a"), card)
		assert.Equal(t, 429, status)
		assert.Equal(t, "2", h.Get("Retry-After"))
		fake.FailNext(1, notifytest.PlatformError("Summary or Text is required."))
		status, body, _ = post(t, fake.LegacyURL("a"), card)
		assert.Equal(t, 400, status)
		assert.Equal(t, "Summary or Text is required.", body)
		status, _, _ = post(t, fake.LegacyURL("a"), `{"type":"message","attachments":[]}`)
		assert.Equal(t, 400, status, "a message without a card is refused")
	})
	t.Run("Hang ends when the client gives up", func(t *testing.T) {
		fake.FailNext(1, notifytest.Hang(time.Hour))
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fake.LegacyURL("a"), strings.NewReader(card))
		_, err := http.DefaultClient.Do(req)
		assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	})
	t.Run("Reset forgets requests and faults", func(t *testing.T) {
		fake.FailNext(5, notifytest.ServerError())
		fake.Reset()
		assert.Equal(t, 0, fake.Count())
		status, _, _ := post(t, fake.LegacyURL("a"), card)
		assert.Equal(t, 200, status)
	})
}

func TestFakesAreSafeForConcurrentUse(t *testing.T) {
	s, tm := notifytest.NewSlack(), notifytest.NewTeams()
	t.Cleanup(s.Close)
	t.Cleanup(tm.Close)
	s.FailNext(10, notifytest.ServerError())
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			u := s.WebhookURL(fmt.Sprint(i))
			resp, err := http.Post(u, "application/json", strings.NewReader(`{"text":"x"}`))
			if err == nil {
				resp.Body.Close()
			}
			resp, err = http.Post(tm.WorkflowsURL(fmt.Sprint(i)), "application/json", bytes.NewReader([]byte(`{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard"}}]}`)))
			if err == nil {
				resp.Body.Close()
			}
			_ = s.Requests()
			_ = tm.Requests()
		})
	}
	wg.Wait()
	assert.Equal(t, 40, s.Count("webhook"))
	assert.Equal(t, 40, tm.Count())
	failed := 0
	for _, r := range s.Requests() {
		if r.Answer == 503 {
			failed++
		}
	}
	assert.Equal(t, 10, failed, "each queued fault is used exactly once")
}

// rawMessage is a prepared JSON payload for go-teams-notify.
type rawMessage string

func (m rawMessage) Prepare() error     { return nil }
func (m rawMessage) Validate() error    { return nil }
func (m rawMessage) Payload() io.Reader { return strings.NewReader(string(m)) }
