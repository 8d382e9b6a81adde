package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/teams"
)

// Secrets used by the tests; none may ever appear in an error, a result
// or a log line.
const (
	botToken   = "xoxb-1111-2222-SECRETbottoken"
	hookSecret = "SECRETHOOKPATH"
	sigSecret  = "SECRETSIG"
)

var deliverySecrets = []string{botToken, "SECRETbottoken", hookSecret, "fakesig-" + sigSecret, sigSecret}

func debugLogger(buf *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// assertSecretFree fails if s holds any test secret or webhook URL.
func assertSecretFree(t *testing.T, s string, extra ...string) {
	t.Helper()
	for _, sec := range append(deliverySecrets, extra...) {
		if sec != "" {
			assert.NotContains(t, s, sec, "a secret leaked")
		}
	}
	assert.NotContains(t, s, "sig=", "a sig parameter leaked")
	assert.NotContains(t, s, "/services/", "a webhook path leaked")
	assert.NotContains(t, s, "/workflows/", "a Workflows path leaked")
}

type fakes struct {
	slack *notifytest.Slack
	teams *notifytest.Teams
	log   *syncbuf.Buffer
}

func newFakes(t *testing.T) *fakes {
	f := &fakes{slack: notifytest.NewSlack(), teams: notifytest.NewTeams(), log: &syncbuf.Buffer{}}
	t.Cleanup(f.slack.Close)
	t.Cleanup(f.teams.Close)
	t.Cleanup(func() { assertSecretFree(t, f.log.String()) })
	return f
}

func (f *fakes) sender(t *testing.T, mod func(*notify.SenderOptions)) *notify.PlatformSender {
	t.Helper()
	o := &notify.SenderOptions{
		SlackAPIURL:       f.slack.APIURL(),
		AllowLoopbackURLs: true,
		Logger:            debugLogger(f.log),
	}
	if mod != nil {
		mod(o)
	}
	s, err := notify.NewSender(o)
	require.NoError(t, err)
	return s
}

func (f *fakes) botChannel() notify.Channel {
	return notify.Channel{ID: "ch-bot", OrgID: "org-1", Type: notify.Slack, Name: "Security", Enabled: true,
		Config: notify.ChannelConfig{BotToken: botToken, ChannelID: "C0123456789"}}
}

func (f *fakes) hookChannel() notify.Channel {
	return notify.Channel{ID: "ch-hook", OrgID: "org-1", Type: notify.Slack, Name: "Alerts", Enabled: true,
		Config: notify.ChannelConfig{WebhookURL: f.slack.WebhookURL(hookSecret)}}
}

func (f *fakes) teamsChannel(workflows bool) notify.Channel {
	u := f.teams.LegacyURL(hookSecret)
	if workflows {
		u = f.teams.WorkflowsURL(sigSecret)
	}
	return notify.Channel{ID: "ch-teams", OrgID: "org-1", Type: notify.Teams, Name: "Teams", Enabled: true,
		Config: notify.ChannelConfig{WebhookURL: u}}
}

func request() approval.Request {
	return approval.Request{
		ID: "apr-1", OrgID: "org-1", Title: "Rotate the root key", RiskScore: 75,
		ConsoleURL: "https://console.example.com/approvals/apr-1",
		Status:     approval.StatusPending, CreatedAt: time.Unix(1700000000, 0).UTC(),
	}
}

func deliveryError(t *testing.T, err error) *notify.DeliveryError {
	t.Helper()
	var de *notify.DeliveryError
	require.True(t, errors.As(err, &de), "want a *DeliveryError, got %T %v", err, err)
	assertSecretFree(t, err.Error())
	assertSecretFree(t, de.Reason)
	return de
}

func TestSlackBotSender(t *testing.T) {
	f := newFakes(t)
	s := f.sender(t, nil)
	ch := f.botChannel()

	t.Run("posts with chat.postMessage and returns channel and ts", func(t *testing.T) {
		rc, err := s.Send(t.Context(), ch, notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		assert.Equal(t, "C0123456789", rc.SlackChannel)
		assert.NotEmpty(t, rc.SlackTS)
		reqs := f.slack.Requests()
		require.Len(t, reqs, 1)
		r := reqs[0]
		assert.Equal(t, "chat.postMessage", r.Method)
		assert.Equal(t, botToken, r.Token, "token in the form body")
		assert.Equal(t, "C0123456789", r.Channel)
		assert.Contains(t, r.Text, "Rotate the root key")
		var ids []string
		for _, b := range r.Buttons() {
			ids = append(ids, b.ActionID)
		}
		assert.Equal(t, []string{"approve_action", "deny_action", "view_console"}, ids)
	})

	t.Run("bot preferred when a webhook URL is also set", func(t *testing.T) {
		f.slack.Reset()
		both := ch
		both.Config.WebhookURL = f.slack.WebhookURL(hookSecret)
		_, err := s.Send(t.Context(), both, notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		assert.Equal(t, 1, f.slack.Count("chat.postMessage"))
		assert.Equal(t, 0, f.slack.Count("webhook"))
	})

	t.Run("update rewrites the message with chat.update, buttons removed", func(t *testing.T) {
		f.slack.Reset()
		rc, err := s.Send(t.Context(), ch, notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		r := request()
		at := time.Unix(1700000600, 0).UTC()
		r.Status, r.ReviewedBy, r.ReviewedAt, r.ReviewSource = approval.StatusApproved, "amy", &at, approval.SourceAPI
		require.NoError(t, s.Update(t.Context(), ch, rc, notify.ApprovalDecided{Request: r}))
		reqs := f.slack.Requests()
		require.Len(t, reqs, 2)
		up := reqs[1]
		assert.Equal(t, "chat.update", up.Method)
		assert.Equal(t, rc.SlackTS, up.TS)
		assert.Equal(t, rc.SlackChannel, up.Channel)
		assert.Equal(t, approval.SlackResultText(r), up.Text)
		assert.Empty(t, up.Buttons())
		assert.Contains(t, up.AllText(), "*APPROVED* by amy")
	})

	t.Run("update of a webhook copy is refused as not editable", func(t *testing.T) {
		err := s.Update(t.Context(), f.hookChannel(), notify.Receipt{}, notify.ApprovalDecided{Request: request()})
		de := deliveryError(t, err)
		assert.Equal(t, "not_editable", de.Code)
		assert.True(t, de.Permanent)
	})

	t.Run("update of a deleted message is classified", func(t *testing.T) {
		err := s.Update(t.Context(), ch, notify.Receipt{SlackChannel: "C0123456789", SlackTS: "1.2"}, notify.ApprovalDecided{Request: request()})
		de := deliveryError(t, err)
		assert.Equal(t, "message_not_found", de.Code)
		assert.True(t, de.Permanent)
	})
}

func TestSlackBotErrors(t *testing.T) {
	cases := []struct {
		fault      notifytest.Fault
		code       string
		permanent  bool
		reason     string
		retryAfter time.Duration
	}{
		{notifytest.PlatformError("not_in_channel"), "not_in_channel", true, "the bot is not in the channel: invite it or add the chat:write.public scope", 0},
		{notifytest.PlatformError("channel_not_found"), "channel_not_found", true, "channel was not found", 0},
		{notifytest.PlatformError("is_archived"), "is_archived", true, "archived", 0},
		{notifytest.PlatformError("invalid_auth"), "invalid_auth", true, "token is invalid", 0},
		{notifytest.PlatformError("not_authed"), "not_authed", true, "bot token", 0},
		{notifytest.PlatformError("token_revoked"), "token_revoked", true, "the Slack token was revoked: reinstall the app and update the bot token", 0},
		{notifytest.PlatformError("account_inactive"), "account_inactive", true, "reinstall", 0},
		{notifytest.PlatformError("missing_scope"), "missing_scope", true, "chat:write", 0},
		{notifytest.PlatformError("something_new"), "something_new", true, "Slack refused the message (something_new)", 0},
		{notifytest.PlatformError("ratelimited"), "rate_limited", false, "rate limiting", 0},
		{notifytest.PlatformError("internal_error"), "internal_error", false, "retried", 0},
		{notifytest.RateLimited(7 * time.Second), "rate_limited", false, "retry after 7s", 7 * time.Second},
		{notifytest.ServerError(), "http_503", false, "server error", 0},
		{notifytest.Fault{Status: http.StatusNotFound, Error: "not found"}, "http_404", true, "HTTP 404", 0},
	}
	f := newFakes(t)
	s := f.sender(t, nil)
	for _, c := range cases {
		t.Run(c.code+"/"+c.fault.Error, func(t *testing.T) {
			f.slack.FailNext(1, c.fault)
			_, err := s.Send(t.Context(), f.botChannel(), notify.DriftAlert{Resource: "r", Severity: notify.SeverityHigh})
			de := deliveryError(t, err)
			assert.Equal(t, c.code, de.Code)
			assert.Equal(t, c.permanent, de.Permanent)
			assert.Contains(t, de.Reason, c.reason)
			assert.Equal(t, c.retryAfter, de.RetryAfter)
		})
	}
}

func TestSlackWebhookSender(t *testing.T) {
	f := newFakes(t)
	s := f.sender(t, nil)

	t.Run("posts JSON, success is 200 ok, no interactive buttons", func(t *testing.T) {
		rc, err := s.Send(t.Context(), f.hookChannel(), notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		assert.Equal(t, notify.Receipt{}, rc, "webhooks return no receipt")
		reqs := f.slack.Requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, "webhook", reqs[0].Method)
		assert.Empty(t, reqs[0].Buttons(), "incoming webhooks carry no interactive buttons")
		assert.Contains(t, reqs[0].AllText(), "<https://console.example.com/approvals/apr-1|View in console>")
	})

	cases := []struct {
		fault     notifytest.Fault
		code      string
		permanent bool
		reason    string
	}{
		{notifytest.PlatformError("no_service"), "no_service", true, "the webhook URL is no longer valid (no_service): create a new incoming webhook"},
		{notifytest.PlatformError("no_service_id"), "no_service_id", true, "not valid"},
		{notifytest.PlatformError("no_active_hooks"), "no_active_hooks", true, "turned off"},
		{notifytest.PlatformError("invalid_token"), "invalid_token", true, "create a new incoming webhook"},
		{notifytest.PlatformError("channel_not_found"), "channel_not_found", true, "no longer exists"},
		{notifytest.PlatformError("channel_is_archived"), "channel_is_archived", true, "archived"},
		{notifytest.Fault{Status: 403, Error: "channel_is_archived"}, "channel_is_archived", true, "archived"},
		{notifytest.Fault{Status: 400, Error: "channel_is_archived"}, "channel_is_archived", true, "archived"},
		{notifytest.PlatformError("action_prohibited"), "action_prohibited", true, "restricted"},
		{notifytest.PlatformError("posting_to_general_channel_denied"), "posting_to_general_channel_denied", true, "general channel"},
		{notifytest.PlatformError("team_disabled"), "team_disabled", true, "disabled"},
		{notifytest.PlatformError("user_not_found"), "user_not_found", true, "user"},
		{notifytest.PlatformError("invalid_payload"), "invalid_payload", true, "bug"},
		{notifytest.PlatformError("no_text"), "no_text", true, "bug"},
		{notifytest.PlatformError("rollup_error"), "rollup_error", false, "retried"},
		{notifytest.RateLimited(3 * time.Second), "rate_limited", false, "retry after 3s"},
		{notifytest.ServerError(), "http_503", false, "server error"},
		{notifytest.Fault{Status: 200, Error: "weird " + hookSecret}, "unexpected_response", true, "unexpected answer"},
		{notifytest.Fault{Status: 418, Error: "I am a teapot with " + hookSecret}, "http_418", true, "HTTP 418"},
		{notifytest.Fault{Status: 422, Error: "some_new_code"}, "some_new_code", true, "some_new_code"},
	}
	for _, c := range cases {
		t.Run(c.code+"/"+c.fault.Error, func(t *testing.T) {
			f.slack.FailNext(1, c.fault)
			_, err := s.Send(t.Context(), f.hookChannel(), notify.AgentStatusChanged{Agent: "a", Status: notify.AgentStopped})
			de := deliveryError(t, err)
			assert.Equal(t, c.code, de.Code)
			assert.Equal(t, c.permanent, de.Permanent)
			assert.Contains(t, de.Reason, c.reason)
			if c.fault.Status != 0 {
				assert.Equal(t, c.fault.Status, de.StatusCode)
			}
		})
	}
}

func TestTeamsSender(t *testing.T) {
	f := newFakes(t)
	signer, err := teams.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	s := f.sender(t, func(o *notify.SenderOptions) {
		o.PublicURL = "https://arx.example.com"
		o.Signer = signer
	})

	for _, workflows := range []bool{false, true} {
		name := map[bool]string{false: "legacy 200 1", true: "workflows 202"}[workflows]
		t.Run(name, func(t *testing.T) {
			f.teams.Reset()
			_, err := s.Send(t.Context(), f.teamsChannel(workflows), notify.ApprovalRequested{Request: request()})
			require.NoError(t, err)
			reqs := f.teams.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, workflows, reqs[0].Workflows)
			var titles []string
			for _, a := range reqs[0].Actions() {
				assert.Equal(t, "Action.OpenUrl", a.Type)
				titles = append(titles, a.Title)
			}
			assert.Equal(t, []string{"Approve", "Deny", "View in console"}, titles)
			assert.Contains(t, reqs[0].AllText(), "Rotate the root key")
		})
	}

	cases := []struct {
		fault      notifytest.Fault
		code       string
		permanent  bool
		reason     string
		retryAfter time.Duration
	}{
		{notifytest.TeamsThrottled(), "rate_limited", false, "rate limiting", 0},
		{notifytest.Fault{Status: 200, Error: notifytest.TeamsThrottledBody, RetryAfter: 5 * time.Second}, "rate_limited", false, "rate limiting", 5 * time.Second},
		{notifytest.RateLimited(9 * time.Second), "rate_limited", false, "retry after 9s", 9 * time.Second},
		{notifytest.ServerError(), "http_503", false, "server error", 0},
		{notifytest.Fault{Status: 502}, "http_502", false, "server error", 0},
		{notifytest.Fault{Status: 400, Error: "Summary or Text is required."}, "http_400", true, "rejected", 0},
		{notifytest.Fault{Status: 401}, "http_401", true, "refused", 0},
		{notifytest.Fault{Status: 403}, "http_403", true, "refused", 0},
		{notifytest.Fault{Status: 404}, "http_404", true, "no longer valid", 0},
		{notifytest.Fault{Status: 410}, "http_410", true, "no longer valid", 0},
		{notifytest.Fault{Status: 413}, "http_413", true, "too large", 0},
		{notifytest.Fault{Status: 200, Error: "0"}, "unexpected_response", true, "unexpected answer", 0},
		{notifytest.Fault{Status: 204}, "unexpected_response", true, "unexpected answer", 0},
		{notifytest.Fault{Status: 409, Error: `{"error":{"code":"WorkflowTriggerIsNotEnabled","message":"x"}}`}, "WorkflowTriggerIsNotEnabled", true, "turned off", 0},
		{notifytest.Fault{Status: 400, Error: `{"error":{"code":"Bad Code <x>","message":"` + sigSecret + `"}}`}, "http_400", true, "rejected", 0},
	}
	for _, c := range cases {
		t.Run(c.code+"/"+c.fault.Error, func(t *testing.T) {
			f.teams.FailNext(1, c.fault)
			_, err := s.Send(t.Context(), f.teamsChannel(true), notify.DriftAlert{Resource: "r", Severity: notify.SeverityLow})
			de := deliveryError(t, err)
			assert.Equal(t, c.code, de.Code)
			assert.Equal(t, c.permanent, de.Permanent)
			assert.Contains(t, de.Reason, c.reason)
			assert.Equal(t, c.retryAfter, de.RetryAfter)
		})
	}
}

func TestSendersCheckURLsAndNetworkFailures(t *testing.T) {
	f := newFakes(t)
	strict := f.sender(t, func(o *notify.SenderOptions) { o.AllowLoopbackURLs = false })
	loose := f.sender(t, nil)
	bot := f.botChannel()

	t.Run("webhook URLs are re-checked before every request", func(t *testing.T) {
		for _, ch := range []notify.Channel{f.hookChannel(), f.teamsChannel(false), f.teamsChannel(true)} {
			_, err := strict.Send(t.Context(), ch, notify.TestMessage{Text: "hi"})
			de := deliveryError(t, err)
			assert.Equal(t, "invalid_webhook_url", de.Code)
			assert.True(t, de.Permanent)
		}
		for _, u := range []string{
			"https://evil.example/x.webhook.office.com/",
			"https://outlook.office.com.evil.example/webhook/" + hookSecret,
			"https://evil.example/services/" + hookSecret,
		} {
			for _, typ := range []notify.ChannelType{notify.Slack, notify.Teams} {
				ch := notify.Channel{ID: "x", Type: typ, Config: notify.ChannelConfig{WebhookURL: u}}
				_, err := loose.Send(t.Context(), ch, notify.TestMessage{Text: "hi"})
				assert.Equal(t, "invalid_webhook_url", deliveryError(t, err).Code, u)
			}
		}
		assert.Equal(t, 0, f.slack.Count(""))
		assert.Equal(t, 0, f.teams.Count())
	})

	t.Run("redirects are not followed", func(t *testing.T) {
		var hit bool
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
		defer target.Close()
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/steal", http.StatusTemporaryRedirect)
		}))
		defer redirector.Close()
		for _, typ := range []notify.ChannelType{notify.Slack, notify.Teams} {
			ch := notify.Channel{ID: "x", Type: typ, Config: notify.ChannelConfig{WebhookURL: redirector.URL + "/services/" + hookSecret}}
			_, err := loose.Send(t.Context(), ch, notify.TestMessage{Text: "hi"})
			de := deliveryError(t, err)
			assert.True(t, de.Permanent)
			assert.Equal(t, 307, de.StatusCode)
		}
		assert.False(t, hit, "the redirect target must not be requested")
	})

	t.Run("timeouts are transient and secret-free", func(t *testing.T) {
		f.slack.FailNext(2, notifytest.Hang(time.Minute))
		f.teams.FailNext(1, notifytest.Hang(time.Minute))
		for _, ch := range []notify.Channel{bot, f.hookChannel(), f.teamsChannel(true)} {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			_, err := loose.Send(ctx, ch, notify.TestMessage{Text: "hi"})
			cancel()
			de := deliveryError(t, err)
			assert.Equal(t, "timeout", de.Code, ch.ID)
			assert.False(t, de.Permanent)
		}
	})

	t.Run("client timeout counts as a timeout too", func(t *testing.T) {
		s := f.sender(t, func(o *notify.SenderOptions) { o.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} })
		f.teams.FailNext(1, notifytest.Hang(time.Minute))
		_, err := s.Send(t.Context(), f.teamsChannel(false), notify.TestMessage{Text: "hi"})
		assert.Equal(t, "timeout", deliveryError(t, err).Code)
	})

	t.Run("connection refused", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		u := dead.URL
		dead.Close()
		s := f.sender(t, func(o *notify.SenderOptions) { o.SlackAPIURL = u + "/api/" })
		channels := []notify.Channel{
			bot,
			{ID: "h", Type: notify.Slack, Config: notify.ChannelConfig{WebhookURL: u + "/services/" + hookSecret}},
			{ID: "t", Type: notify.Teams, Config: notify.ChannelConfig{WebhookURL: u + "/workflows/x?sig=" + sigSecret}},
		}
		for _, ch := range channels {
			_, err := s.Send(t.Context(), ch, notify.TestMessage{Text: "hi"})
			de := deliveryError(t, err)
			assert.Equal(t, "connection_refused", de.Code, ch.ID)
			assert.False(t, de.Permanent)
			assertSecretFree(t, err.Error(), u)
		}
	})

	t.Run("a channel without destination", func(t *testing.T) {
		_, err := loose.Send(t.Context(), notify.Channel{Type: notify.Slack}, notify.TestMessage{Text: "hi"})
		assert.Equal(t, "not_configured", deliveryError(t, err).Code)
	})

	t.Run("huge answers are cut, not read whole", func(t *testing.T) {
		big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for range 64 { // 4 MiB
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		defer big.Close()
		for _, typ := range []notify.ChannelType{notify.Slack, notify.Teams} {
			ch := notify.Channel{ID: "x", Type: typ, Config: notify.ChannelConfig{WebhookURL: big.URL + "/services/" + hookSecret}}
			_, err := loose.Send(t.Context(), ch, notify.TestMessage{Text: "hi"})
			assert.Equal(t, "unexpected_response", deliveryError(t, err).Code)
		}
	})

	t.Run("options are checked", func(t *testing.T) {
		for _, o := range []notify.SenderOptions{
			{SlackAPIURL: "ftp://slack.example/"},
			{SlackAPIURL: "https://user:pw@slack.example/"},
			{PublicURL: "arx.example.com"},
			{PublicURL: "https://arx.example.com/?x=1"},
		} {
			_, err := notify.NewSender(&o)
			assert.Error(t, err)
		}
		_, err := notify.NewSender(nil)
		assert.NoError(t, err)
	})
}
