package notifytest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// postRaw POSTs a JSON body to u and returns the status and body.
func postRaw(t *testing.T, u, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestSlackMessages(t *testing.T) {
	section := func(text string) slack.MsgOption {
		return slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil))
	}
	blockText := func(m notifytest.SlackMessage) string {
		require.Len(t, m.Blocks, 1)
		return m.Blocks[0]["text"].(map[string]any)["text"].(string)
	}
	newFake := func(t *testing.T) (*notifytest.Slack, *slack.Client) {
		fake := notifytest.NewSlack()
		t.Cleanup(fake.Close)
		return fake, slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL()))
	}

	t.Run("chat.update replaces the posted message in place", func(t *testing.T) {
		fake, api := newFake(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false), section("*Approve?*"))
		require.NoError(t, err)
		_, _, err = api.PostMessageContext(t.Context(), "C2", slack.MsgOptionText("elsewhere", false))
		require.NoError(t, err)

		_, _, _, err = api.UpdateMessageContext(t.Context(), "C1", ts, slack.MsgOptionText("done", false), section("*APPROVED*"))
		require.NoError(t, err)
		msgs := fake.Messages()
		require.Len(t, msgs, 2)
		assert.Equal(t, "C1", msgs[0].Channel)
		assert.Equal(t, ts, msgs[0].TS)
		assert.Equal(t, "done", msgs[0].Text)
		assert.Equal(t, "*APPROVED*", blockText(msgs[0]))
		assert.Equal(t, []string{"chat.update"}, msgs[0].Edits)
		assert.False(t, msgs[0].Posted.IsZero())
		assert.Equal(t, "elsewhere", msgs[1].Text)
		assert.Empty(t, msgs[1].Edits)
	})
	t.Run("chat.update without blocks keeps the blocks", func(t *testing.T) {
		fake, api := newFake(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("v1", false), section("kept"))
		require.NoError(t, err)
		_, _, _, err = api.UpdateMessageContext(t.Context(), "C1", ts, slack.MsgOptionText("v2", false))
		require.NoError(t, err)
		m := fake.Messages()[0]
		assert.Equal(t, "v2", m.Text)
		assert.Equal(t, "kept", blockText(m))
	})
	t.Run("response_url replace_original replaces, with a bool or a string", func(t *testing.T) {
		fake, api := newFake(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false), section("*Approve?*"))
		require.NoError(t, err)
		u := fake.ResponseURL("C1", ts)

		_, _, _, err = api.SendMessageContext(t.Context(), "", slack.MsgOptionReplaceOriginal(u), slack.MsgOptionText("replaced", false), section(":white_check_mark: *APPROVED* by amy"))
		require.NoError(t, err)
		m := fake.Messages()[0]
		assert.Equal(t, "replaced", m.Text)
		assert.Equal(t, ":white_check_mark: *APPROVED* by amy", blockText(m))

		status, body := postRaw(t, u, `{"replace_original":"true","text":"again"}`)
		assert.Equal(t, http.StatusOK, status)
		assert.JSONEq(t, `{"ok":true}`, body)
		m = fake.Messages()[0]
		assert.Equal(t, "again", m.Text)
		assert.Equal(t, ":white_check_mark: *APPROVED* by amy", blockText(m), "a replacement without blocks keeps them")
		assert.Equal(t, []string{"response_url", "response_url"}, m.Edits)

		reqs := fake.Requests()
		assert.Equal(t, 2, fake.Count("response_url"))
		last := reqs[len(reqs)-1]
		assert.Equal(t, "C1", last.Channel)
		assert.Equal(t, ts, last.TS)
		assert.Equal(t, http.StatusOK, last.Answer)
	})
	t.Run("response_url without replace_original posts a new message", func(t *testing.T) {
		fake, api := newFake(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false))
		require.NoError(t, err)
		u := fake.ResponseURL("C1", ts)
		for _, body := range []string{
			`{"response_type":"ephemeral","replace_original":false,"text":":warning: Already approved"}`,
			`{"response_type":"in_channel","text":"for everyone"}`,
		} {
			status, _ := postRaw(t, u, body)
			require.Equal(t, http.StatusOK, status)
		}
		msgs := fake.Messages()
		require.Len(t, msgs, 3)
		assert.Equal(t, "asking", msgs[0].Text, "the original is untouched")
		assert.Equal(t, ":warning: Already approved", msgs[1].Text)
		assert.True(t, msgs[1].Ephemeral)
		assert.Equal(t, "C1", msgs[1].Channel)
		assert.NotEqual(t, ts, msgs[1].TS)
		assert.Equal(t, "for everyone", msgs[2].Text)
		assert.False(t, msgs[2].Ephemeral)
	})
	t.Run("response_url delete_original removes the message", func(t *testing.T) {
		fake, api := newFake(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false))
		require.NoError(t, err)
		status, _ := postRaw(t, fake.ResponseURL("C1", ts), `{"delete_original":"true"}`)
		assert.Equal(t, http.StatusOK, status)
		assert.Empty(t, fake.Messages())
		_, _, _, err = api.UpdateMessageContext(t.Context(), "C1", ts, slack.MsgOptionText("x", false))
		assert.EqualError(t, err, "message_not_found", "a deleted message cannot be updated")
	})
	t.Run("response_url refusals", func(t *testing.T) {
		fake, api := newFake(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false))
		require.NoError(t, err)
		for _, tc := range []struct {
			name, url, body, code string
			status                int
		}{
			{"unknown message", fake.ResponseURL("C1", "1.2"), `{"replace_original":true,"text":"x"}`, "message_not_found", http.StatusNotFound},
			{"not JSON", fake.ResponseURL("C1", ts), `replace_original=true`, "invalid_payload", http.StatusBadRequest},
			{"no text", fake.ResponseURL("C1", ts), `{"replace_original":true}`, "no_text", http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := postRaw(t, tc.url, tc.body)
				assert.Equal(t, tc.status, status)
				assert.JSONEq(t, `{"ok":false,"error":"`+tc.code+`"}`, body)
			})
		}
		assert.Equal(t, "asking", fake.Messages()[0].Text)
		assert.Empty(t, fake.Messages()[0].Edits)
	})
	t.Run("response_url takes faults", func(t *testing.T) {
		fake, api := newFake(t)
		_, ts, err := api.PostMessageContext(t.Context(), "C1", slack.MsgOptionText("asking", false))
		require.NoError(t, err)
		fake.FailNext(1, notifytest.ServerError())
		status, _ := postRaw(t, fake.ResponseURL("C1", ts), `{"replace_original":true,"text":"x"}`)
		assert.Equal(t, http.StatusServiceUnavailable, status)
		assert.Equal(t, "asking", fake.Messages()[0].Text)
	})
	t.Run("webhook messages are kept under their path, and Reset keeps messages", func(t *testing.T) {
		fake, _ := newFake(t)
		status, _ := postRaw(t, fake.WebhookURL("alerts"), `{"text":"drift!"}`)
		require.Equal(t, http.StatusOK, status)
		fake.FailNext(1, notifytest.PlatformError("no_service"))
		status, _ = postRaw(t, fake.WebhookURL("alerts"), `{"text":"lost"}`)
		require.Equal(t, http.StatusNotFound, status)

		fake.Reset()
		msgs := fake.Messages()
		require.Len(t, msgs, 1, "a refused post is not a message")
		assert.Equal(t, "/services/T00000000/B00000000/alerts", msgs[0].Channel)
		assert.Equal(t, "drift!", msgs[0].Text)
		assert.NotEmpty(t, msgs[0].TS)
		assert.Empty(t, fake.Requests())
	})
}

func TestTeamsRecordsWhenReceived(t *testing.T) {
	fake := notifytest.NewTeams()
	t.Cleanup(fake.Close)
	before := time.Now()
	status, _ := postRaw(t, fake.LegacyURL("a"), `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard"}}]}`)
	require.Equal(t, http.StatusOK, status)
	got := fake.Requests()[0].Received
	assert.False(t, got.Before(before), "received %v, before the post at %v", got, before)
	assert.False(t, got.After(time.Now()))
}
