package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/slackmsg"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
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

// assertSecretFree fails if s holds any test secret, webhook URL or
// response_url.
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
	assert.NotContains(t, s, "/actions/", "a response_url leaked")
}

// fakes is a fake Slack and Teams, and the log every test checks for
// secrets when it ends.
type fakes struct {
	srv *notifytest.Server
	log *syncbuf.Buffer
}

func newFakes(t *testing.T) *fakes {
	f := &fakes{srv: notifytest.New(), log: &syncbuf.Buffer{}}
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { assertSecretFree(t, f.log.String()) })
	return f
}

// count returns how many requests of method the fake received, or of
// every method for "".
func (f *fakes) count(method string) int {
	n := 0
	for _, r := range f.srv.Requests() {
		if method == "" || r.Method == method {
			n++
		}
	}
	return n
}

// requests returns the requests of the given methods.
func (f *fakes) requests(methods ...string) []notifytest.Request {
	var out []notifytest.Request
	for _, r := range f.srv.Requests() {
		for _, m := range methods {
			if r.Method == m {
				out = append(out, r)
			}
		}
	}
	return out
}

func (f *fakes) sender(t *testing.T, mod func(*notify.SenderOptions)) *notify.PlatformSender {
	t.Helper()
	o := &notify.SenderOptions{
		SlackAPIURL:       f.srv.SlackAPIURL(),
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
		Config: notify.ChannelConfig{WebhookURL: f.srv.SlackWebhookURL(hookSecret)}}
}

func (f *fakes) teamsChannel(workflows bool) notify.Channel {
	u := f.srv.TeamsWebhookURL(hookSecret)
	if workflows {
		u = f.srv.TeamsWorkflowsURL(sigSecret)
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

// decided returns request() approved by amy through the API.
func decided() approval.Request {
	r := request()
	at := time.Unix(1700000600, 0).UTC()
	r.Status, r.ReviewedBy, r.ReviewedAt, r.ReviewSource = approval.StatusApproved, "amy", &at, approval.SourceAPI
	return r
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
		reqs := f.srv.Requests()
		require.Len(t, reqs, 1)
		r := reqs[0]
		assert.Equal(t, "chat.postMessage", r.Method)
		assert.Equal(t, botToken, r.Token, "token in the form body")
		assert.Equal(t, "C0123456789", r.Channel)
		assert.Contains(t, r.Text, "Rotate the root key")
		var ids []string
		for _, b := range r.Buttons {
			ids = append(ids, b.ActionID)
		}
		assert.Equal(t, []string{"approve_action", "deny_action", "view_console"}, ids)
	})

	t.Run("bot preferred when a webhook URL is also set", func(t *testing.T) {
		f.srv.Reset()
		both := ch
		both.Config.WebhookURL = f.srv.SlackWebhookURL(hookSecret)
		_, err := s.Send(t.Context(), both, notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		assert.Equal(t, 1, f.count("chat.postMessage"))
		assert.Equal(t, 0, f.count("webhook"))
	})

	t.Run("a decision rewrites the message with chat.update, buttons removed", func(t *testing.T) {
		f.srv.Reset()
		rc, err := s.Send(t.Context(), ch, notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		r := decided()
		require.NoError(t, notify.ShowDecision(t.Context(), s, ch, notify.Post{Receipt: rc}, r))
		reqs := f.srv.Requests()
		require.Len(t, reqs, 2)
		up := reqs[1]
		assert.Equal(t, "chat.update", up.Method)
		assert.Equal(t, rc.SlackTS, up.TS)
		assert.Equal(t, rc.SlackChannel, up.Channel)
		assert.Equal(t, slackmsg.ResultLine("approved", "amy"), up.Text)
		assert.Empty(t, up.Buttons)
		assert.Contains(t, up.AllText, "*APPROVED* by amy")
	})

	t.Run("a webhook copy cannot show a decision", func(t *testing.T) {
		err := notify.ShowDecision(t.Context(), s, f.hookChannel(), notify.Post{}, decided())
		de := deliveryError(t, err)
		assert.Equal(t, "not_editable", de.Code)
		assert.True(t, de.Permanent)
	})

	t.Run("the update of a deleted message is classified", func(t *testing.T) {
		err := notify.ShowDecision(t.Context(), s, ch, notify.Post{Receipt: notify.Receipt{SlackChannel: "C0123456789", SlackTS: "1.2"}}, decided())
		de := deliveryError(t, err)
		assert.Equal(t, "message_not_found", de.Code)
		assert.True(t, de.Permanent)
	})
}

// classified is how a fault's answer must be classified: the
// DeliveryError's code, permanence, a part of its reason, its
// Retry-After.
type classified struct {
	fault      notifytest.Fault
	code       string
	permanent  bool
	reason     string
	retryAfter time.Duration
}

// check asserts that err is classified as c says.
func (c classified) check(t *testing.T, err error) {
	t.Helper()
	de := deliveryError(t, err)
	assert.Equal(t, c.code, de.Code)
	assert.Equal(t, c.permanent, de.Permanent)
	assert.Contains(t, de.Reason, c.reason)
	assert.Equal(t, c.retryAfter, de.RetryAfter)
}

func TestSlackBotErrors(t *testing.T) {
	cases := []classified{
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
		{notifytest.Fault{Status: 503}, "http_503", false, "server error", 0},
		{notifytest.Fault{Status: http.StatusNotFound, Error: "not found"}, "http_404", true, "HTTP 404", 0},
	}
	f := newFakes(t)
	s := f.sender(t, nil)
	for _, c := range cases {
		t.Run(c.code+"/"+c.fault.Error, func(t *testing.T) {
			f.srv.FailNext(1, c.fault)
			_, err := s.Send(t.Context(), f.botChannel(), notify.DriftAlert{Resource: "r", Severity: notify.SeverityHigh})
			c.check(t, err)
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
		reqs := f.srv.Requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, "webhook", reqs[0].Method)
		assert.Empty(t, reqs[0].Buttons, "incoming webhooks carry no interactive buttons")
		assert.Contains(t, reqs[0].AllText, "<https://console.example.com/approvals/apr-1|View in console>")
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
		{notifytest.Fault{Status: 429, RetryAfter: 3 * time.Second, RetryAfterDate: true}, "rate_limited", false, "retry after"},
		{notifytest.Fault{Status: 503}, "http_503", false, "server error"},
		{notifytest.Fault{Status: 200, Error: "weird " + hookSecret}, "unexpected_response", true, "unexpected answer"},
		{notifytest.Fault{Status: 418, Error: "I am a teapot with " + hookSecret}, "http_418", true, "HTTP 418"},
		{notifytest.Fault{Status: 422, Error: "some_new_code"}, "some_new_code", true, "some_new_code"},
	}
	for _, c := range cases {
		t.Run(c.code+"/"+c.fault.Error, func(t *testing.T) {
			f.srv.FailNext(1, c.fault)
			_, err := s.Send(t.Context(), f.hookChannel(), notify.AgentStatusChanged{Agent: "a", Status: notify.AgentStopped})
			de := deliveryError(t, err)
			assert.Equal(t, c.code, de.Code)
			assert.Equal(t, c.permanent, de.Permanent)
			assert.Contains(t, de.Reason, c.reason)
			if c.fault.Status != 0 {
				assert.Equal(t, c.fault.Status, de.StatusCode)
			}
			if c.fault.RetryAfter > 0 {
				// Seconds or an HTTP date (whole seconds, rounded up).
				assert.InDelta(t, c.fault.RetryAfter.Seconds(), de.RetryAfter.Seconds(), 2)
			}
		})
	}
}

func TestTeamsSender(t *testing.T) {
	f := newFakes(t)
	signer, err := approval.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	s := f.sender(t, func(o *notify.SenderOptions) {
		o.PublicURL = "https://chat.example.com/api"
		o.Signer = signer
	})

	for _, workflows := range []bool{false, true} {
		name := map[bool]string{false: "legacy 200 1", true: "workflows 202"}[workflows]
		t.Run(name, func(t *testing.T) {
			f.srv.Reset()
			r := request()
			r.ExpiresAt = time.Now().Add(time.Hour).Truncate(time.Second).UTC()
			_, err := s.Send(t.Context(), f.teamsChannel(workflows), notify.ApprovalRequested{Request: r})
			require.NoError(t, err)
			reqs := f.srv.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, map[bool]string{false: "teams", true: "workflows"}[workflows], reqs[0].Method)
			var titles []string
			for _, a := range reqs[0].Buttons {
				assert.Equal(t, "Action.OpenUrl", a.Type)
				titles = append(titles, a.Text)
			}
			assert.Equal(t, []string{"Approve", "Deny", "View in console"}, titles)
			assert.Contains(t, reqs[0].AllText, "Rotate the root key")

			// The links carry a token of the request's organisation, for
			// its decision, expiring with the request.
			for i, d := range []approval.Decision{approval.Approve, approval.Deny} {
				u, err := url.Parse(reqs[0].Buttons[i].URL)
				require.NoError(t, err)
				assert.Equal(t, "https://chat.example.com/api"+approval.TeamsInteractionsPath, u.Scheme+"://"+u.Host+u.Path)
				claims, err := signer.Verify(u.Query().Get("token"), time.Now())
				require.NoError(t, err)
				assert.Equal(t, approval.ActionClaims{OrgID: "org-1", ApprovalID: "apr-1", Decision: d, ExpiresAt: r.ExpiresAt}, claims)
			}
		})
	}
	t.Run("no links without a signer", func(t *testing.T) {
		f.srv.Reset()
		_, err := f.sender(t, nil).Send(t.Context(), f.teamsChannel(true), notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		var titles []string
		for _, a := range f.srv.Requests()[0].Buttons {
			titles = append(titles, a.Text)
		}
		assert.Equal(t, []string{"View in console"}, titles)
	})
	t.Run("a decision is a follow-up card", func(t *testing.T) {
		f.srv.Reset()
		require.NoError(t, notify.ShowDecision(t.Context(), s, f.teamsChannel(false), notify.Post{}, decided()))
		reqs := f.srv.Requests()
		require.Len(t, reqs, 1)
		assert.Contains(t, reqs[0].AllText, "amy")
		assert.Empty(t, reqs[0].Buttons, "a follow-up has no buttons")
	})

	cases := []classified{
		{notifytest.TeamsThrottled(), "rate_limited", false, "rate limiting", 0},
		{func() notifytest.Fault { ft := notifytest.TeamsThrottled(); ft.RetryAfter = 5 * time.Second; return ft }(), "rate_limited", false, "rate limiting", 5 * time.Second},
		{notifytest.RateLimited(9 * time.Second), "rate_limited", false, "retry after 9s", 9 * time.Second},
		{notifytest.Fault{Status: 503}, "http_503", false, "server error", 0},
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
			f.srv.FailNext(1, c.fault)
			_, err := s.Send(t.Context(), f.teamsChannel(true), notify.DriftAlert{Resource: "r", Severity: notify.SeverityLow})
			c.check(t, err)
		})
	}
}

func TestResponseURLSender(t *testing.T) {
	f := newFakes(t)
	s := f.sender(t, nil)
	post := func(t *testing.T) (channel, ts string) {
		t.Helper()
		rc, err := s.Send(t.Context(), f.botChannel(), notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		return rc.SlackChannel, rc.SlackTS
	}

	t.Run("replaces the clicked message with the result: JSON, replace_original", func(t *testing.T) {
		channel, ts := post(t)
		f.srv.Reset()
		require.NoError(t, notify.RespondReplace(t.Context(), s, f.srv.ResponseURL(channel, ts), decided()))
		r := f.requests("response_url")[0]
		assert.True(t, r.ReplaceOriginal)
		assert.Equal(t, slackmsg.ResultLine("approved", "amy"), r.Text)
		assert.Contains(t, string(r.Body), `"replace_original":true`)
		for _, m := range f.srv.Messages() {
			if m.TS == ts {
				assert.Equal(t, []string{"response_url"}, m.Edits)
				assert.Empty(t, m.Buttons)
			}
		}
	})

	cases := []classified{
		{notifytest.Fault{Method: "response_url", Status: 404, Error: "expired_url"}, "expired_url", true, "expired", 0},
		{notifytest.Fault{Method: "response_url", Status: 200, Error: "used_url"}, "used_url", true, "used up", 0},
		{notifytest.Fault{Method: "response_url", Status: 429, RetryAfter: 4 * time.Second}, "rate_limited", false, "retry after 4s", 4 * time.Second},
		{notifytest.Fault{Method: "response_url", Status: 503}, "http_503", false, "server error", 0},
		{notifytest.Fault{Method: "response_url", Status: 500, Error: "internal_error"}, "http_500", false, "server error", 0},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			channel, ts := post(t)
			f.srv.FailNext(1, c.fault)
			c.check(t, notify.RespondReplace(t.Context(), s, f.srv.ResponseURL(channel, ts), decided()))
		})
	}

	t.Run("only hooks.slack.com, loopback only with the setting", func(t *testing.T) {
		f.srv.Reset()
		strict := f.sender(t, func(o *notify.SenderOptions) { o.AllowLoopbackURLs = false })
		de := deliveryError(t, notify.RespondReplace(t.Context(), strict, f.srv.ResponseURL("C1", "1.1"), decided()))
		assert.Equal(t, "loopback_url_refused", de.Code)
		assert.Equal(t, "the click's response_url is on a loopback address: loopback URLs are refused unless SenderOptions.AllowLoopbackURLs is set", de.Reason)
		for _, u := range []string{
			"https://evil.example/actions/T/1/" + hookSecret,
			"http://hooks.slack.com/actions/T/1/" + hookSecret,
			"https://hooks.slack.com.evil.example/actions/T/1/" + hookSecret,
		} {
			de := deliveryError(t, notify.RespondReplace(t.Context(), s, u, decided()))
			assert.Equal(t, "invalid_response_url", de.Code, u)
			assert.True(t, de.Permanent)
		}
		assert.Zero(t, f.count(""), "nothing was requested")
	})
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
			assert.Equal(t, "loopback_url_refused", de.Code, "the real cause: the setting is off")
			assert.Contains(t, de.Reason, "loopback URLs are refused unless SenderOptions.AllowLoopbackURLs is set")
			assert.NotContains(t, de.Reason, "update the channel")
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
				de := deliveryError(t, err)
				assert.Equal(t, "invalid_webhook_url", de.Code, u)
				assert.Contains(t, de.Reason, "update the channel")
			}
		}
		assert.Equal(t, 0, f.count(""))
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
		de := deliveryError(t, notify.RespondReplace(t.Context(), loose, redirector.URL+"/actions/"+hookSecret, decided()))
		assert.Equal(t, 307, de.StatusCode, "nor for a response_url")
		assert.False(t, hit, "the redirect target must not be requested")
	})

	t.Run("timeouts are transient and secret-free", func(t *testing.T) {
		f.srv.FailNext(3, notifytest.Fault{Delay: time.Minute})
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
		f.srv.FailNext(1, notifytest.Fault{Delay: time.Minute})
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
		de := deliveryError(t, notify.RespondReplace(t.Context(), s, u+"/actions/T/1/"+hookSecret, decided()))
		assert.Equal(t, "connection_refused", de.Code)
		assertSecretFree(t, de.Error(), u)
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
			{PublicURL: "chat.example.com"},
			{PublicURL: "https://chat.example.com/?x=1"},
		} {
			_, err := notify.NewSender(&o)
			assert.Error(t, err)
		}
		_, err := notify.NewSender(nil)
		assert.NoError(t, err)
	})
}
