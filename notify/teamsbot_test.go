package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// Conversation IDs as Teams gives them: a channel, and a reply thread
// (whose ";messageid=" must be path-escaped).
const (
	botConv   = "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2"
	botConv2  = "19:a1b2c3d4e5f60718293a4b5c6d7e8f90@thread.tacv2"
	botThread = "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2;messageid=1498171086622"
	msgRoster = "the bot was removed from this Teams conversation: add it again or pick another conversation"
)

// teamsBotChannel is a Teams channel reached through the fake's bot.
func (f *fakes) teamsBotChannel(conv string) notify.Channel {
	bot := f.srv.TeamsBot()
	return notify.Channel{ID: "ch-teamsbot", OrgID: "org-1", Type: notify.Teams, Name: "Teams bot", Enabled: true,
		Config: notify.ChannelConfig{ServiceURL: bot.ServiceURL, ConversationID: conv, TenantID: bot.Tenant}}
}

// botSender is a sender with the fake's bot credentials; its secret is
// checked absent from the log when the test ends.
func (f *fakes) botSender(t *testing.T, mod func(*notify.SenderOptions)) *notify.PlatformSender {
	t.Helper()
	bot := f.srv.TeamsBot()
	t.Cleanup(func() { assert.NotContains(t, f.log.String(), bot.AppSecret, "the bot's client secret in the log") })
	return f.sender(t, func(o *notify.SenderOptions) {
		o.TeamsAppID, o.TeamsAppSecret, o.TeamsAppTenant, o.TeamsTokenURL = bot.AppID, bot.AppSecret, bot.Tenant, bot.TokenURL
		if mod != nil {
			mod(o)
		}
	})
}

// card returns the one card of the bot message with activity id.
func (f *fakes) botMessage(t *testing.T, id string) notifytest.Message {
	t.Helper()
	for _, m := range f.srv.Messages() {
		if m.ActivityID == id {
			require.Len(t, m.Cards, 1)
			return m
		}
	}
	t.Fatalf("no bot message %q", id)
	return notifytest.Message{}
}

func TestTeamsBotChannelValidate(t *testing.T) {
	ref := func(su, conv, tenant string) notify.Channel {
		return notify.Channel{Type: notify.Teams, Name: "bot", Config: notify.ChannelConfig{ServiceURL: su, ConversationID: conv, TenantID: tenant}}
	}
	const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	const amer = "https://smba.trafficmanager.net/amer/"
	t.Run("accepted", func(t *testing.T) {
		for _, su := range []string{amer, "https://smba.trafficmanager.net/emea/", "https://SMBA.trafficmanager.net:443/apac/",
			"https://smba.infra.gcc.teams.microsoft.com/", "https://smba.infra.gov.teams.microsoft.us/", "https://smba.infra.dod.teams.microsoft.us/"} {
			ch, err := ref("  "+su+" ", botConv, tenant).Validate()
			require.NoError(t, err, su)
			assert.Equal(t, su, ch.Config.ServiceURL, "trimmed")
		}
		_, err := ref(amer, botThread, tenant).Validate()
		assert.NoError(t, err, "a reply thread")
		_, err = ref(amer, "a:1Abc-dEf_ghI", tenant).Validate()
		assert.NoError(t, err, "a personal chat")
	})
	for _, tc := range []struct {
		name, field, msg string
		ch               notify.Channel
		loopback         bool
	}{
		{"nothing", "config", "Teams channels require either webhook_url or service_url + conversation_id + tenant_id", ref("", "", ""), false},
		{"both", "config", "Teams channels take either webhook_url or service_url + conversation_id + tenant_id, not both",
			with(ref(amer, botConv, tenant), func(c *notify.Channel) { c.Config.WebhookURL = testTeamsHook }), false},
		{"no tenant", "config", "service_url, conversation_id and tenant_id must be given together", ref(amer, botConv, ""), false},
		{"no conversation", "config", "service_url, conversation_id and tenant_id must be given together", ref(amer, "", tenant), false},
		{"no service url", "config", "service_url, conversation_id and tenant_id must be given together", ref("", botConv, tenant), false},
		{"on slack", "config", "service_url, conversation_id and tenant_id apply to Teams channels only",
			with(ref(amer, botConv, tenant), func(c *notify.Channel) { c.Type = notify.Slack; c.Config.WebhookURL = testSlackHook }), false},
		{"http", "config.service_url", msgServiceURL, ref("http://smba.trafficmanager.net/amer/", botConv, tenant), false},
		{"look-alike host", "config.service_url", msgServiceURL, ref("https://smba.trafficmanager.net.evil.example/amer/", botConv, tenant), false},
		{"host in the path", "config.service_url", msgServiceURL, ref("https://evil.example/smba.trafficmanager.net/", botConv, tenant), false},
		{"user info", "config.service_url", msgServiceURL, ref("https://user@smba.trafficmanager.net/amer/", botConv, tenant), false},
		{"other port", "config.service_url", msgServiceURL, ref("https://smba.trafficmanager.net:8443/amer/", botConv, tenant), false},
		{"query", "config.service_url", msgServiceURL, ref("https://smba.trafficmanager.net/amer/?x=1", botConv, tenant), false},
		{"subdomain", "config.service_url", msgServiceURL, ref("https://x.smba.trafficmanager.net/amer/", botConv, tenant), false},
		{"private address", "config.service_url", msgServiceURL, ref("http://10.0.0.1/amer/", botConv, tenant), true},
		{"loopback off", "config.service_url", "service_url is on a loopback address: loopback URLs are refused unless SenderOptions.AllowLoopbackURLs is set",
			ref("http://127.0.0.1:1234/amer/", botConv, tenant), false},
		{"conversation id", "config.conversation_id", "conversation_id must be a Teams conversation ID such as 19:…@thread.tacv2", ref(amer, "general", tenant), false},
		{"conversation id with a space", "config.conversation_id", "conversation_id must be a Teams conversation ID such as 19:…@thread.tacv2", ref(amer, "19:a b@thread.tacv2", tenant), false},
		{"tenant", "config.tenant_id", "tenant_id must be a Microsoft Entra tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000)", ref(amer, botConv, "contoso.onmicrosoft.com"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notify.ValidateWith(tc.ch, tc.loopback)
			require.Error(t, err)
			assert.Equal(t, tc.msg, err.Error())
			assert.Equal(t, tc.field, notify.ValidationField(err))
		})
	}
	t.Run("loopback on", func(t *testing.T) {
		_, err := notify.ValidateWith(ref("http://127.0.0.1:1234/amer/", botConv, tenant), true)
		assert.NoError(t, err)
	})
}

const msgServiceURL = "service_url must be an https Bot Framework service URL (smba.trafficmanager.net, smba.infra.gcc.teams.microsoft.com, smba.infra.gov.teams.microsoft.us or smba.infra.dod.teams.microsoft.us)"

func TestNewSenderTeamsBotOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    notify.SenderOptions
		want string
	}{
		{"id without secret", notify.SenderOptions{TeamsAppID: "app", TeamsAppTenant: "t"}, "notify: TeamsAppID and TeamsAppSecret must be set together"},
		{"secret without id", notify.SenderOptions{TeamsAppSecret: "s3cret-value"}, "notify: TeamsAppID and TeamsAppSecret must be set together"},
		{"no tenant", notify.SenderOptions{TeamsAppID: "app", TeamsAppSecret: "s3cret-value"}, "notify: TeamsAppTenant is required with TeamsAppID (or TeamsTokenURL)"},
		{"bad tenant", notify.SenderOptions{TeamsAppID: "app", TeamsAppSecret: "s3cret-value", TeamsAppTenant: "a/b"}, "notify: TeamsAppTenant must be a tenant ID or domain name"},
		{"http token URL", notify.SenderOptions{TeamsAppID: "app", TeamsAppSecret: "s3cret-value", TeamsTokenURL: "http://login.example/token"}, "notify: TeamsTokenURL must be an https URL"},
		{"loopback token URL", notify.SenderOptions{TeamsAppID: "app", TeamsAppSecret: "s3cret-value", TeamsTokenURL: "http://127.0.0.1:9/token"},
			"notify: TeamsTokenURL is on a loopback address: loopback URLs are refused unless SenderOptions.AllowLoopbackURLs is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notify.NewSender(&tc.o)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.NotContains(t, err.Error(), "s3cret-value")
		})
	}
	_, err := notify.NewSender(&notify.SenderOptions{TeamsAppID: "app", TeamsAppSecret: "s", TeamsAppTenant: "contoso.onmicrosoft.com"})
	assert.NoError(t, err, "the default token URL")
}

func TestTeamsBotSendApprovalCard(t *testing.T) {
	f := newFakes(t)
	s := f.botSender(t, nil)
	ch := f.teamsBotChannel(botThread)
	rc, err := s.Send(t.Context(), ch, notify.ApprovalRequested{Request: request()})
	require.NoError(t, err)
	require.NotEmpty(t, rc.TeamsActivityID)

	reqs := f.requests("sendToConversation")
	require.Len(t, reqs, 1)
	assert.Equal(t, http.StatusCreated, reqs[0].Answer)
	assert.Equal(t, botThread, reqs[0].Channel, "the conversation ID, ;messageid= included, reached the connector whole")
	assert.Equal(t, "/amer/v3/conversations/19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2%3Bmessageid=1498171086622/activities",
		reqs[0].Path, "the region path kept, the ID path-escaped")
	var activity struct {
		Type        string
		ChannelData struct{ Tenant struct{ ID string } }
	}
	require.NoError(t, json.Unmarshal(reqs[0].Body, &activity))
	assert.Equal(t, "message", activity.Type)
	assert.Equal(t, ch.Config.TenantID, activity.ChannelData.Tenant.ID)

	m := f.botMessage(t, rc.TeamsActivityID)
	assert.Equal(t, botThread, m.Channel)
	card := m.Cards[0]
	assert.Equal(t, "1.5", card["version"])
	assert.Empty(t, card["actions"], "the buttons are in an ActionSet, not card.actions")
	data := func(verb string) map[string]any { return map[string]any{"action": verb, "approval_id": "apr-1"} }
	assert.Equal(t, []notifytest.Button{
		{Type: "Action.Execute", Text: "Approve", Verb: "approve", Data: data("approve"), Style: "positive", Fallback: "Action.Submit"},
		{Type: "Action.Execute", Text: "Deny", Verb: "deny", Data: data("deny"), Style: "destructive", Fallback: "Action.Submit"},
		{Type: "Action.OpenUrl", Text: "View in console", URL: "https://console.example.com/approvals/apr-1"},
	}, m.Buttons)
	assert.Contains(t, m.AllText, "Rotate the root key")
	assert.NotContains(t, m.AllText, "token=", "no signed links on a bot card")

	t.Run("the fallback carries the same data", func(t *testing.T) {
		var body []map[string]any
		b, _ := json.Marshal(card["body"])
		require.NoError(t, json.Unmarshal(b, &body))
		set := body[len(body)-1]
		require.Equal(t, "ActionSet", set["type"])
		for _, a := range set["actions"].([]any)[:2] {
			act := a.(map[string]any)
			fb := act["fallback"].(map[string]any)
			assert.Equal(t, "Action.Submit", fb["type"])
			assert.Equal(t, act["data"], fb["data"])
			assert.Equal(t, act["title"], fb["title"])
		}
	})

	t.Run("drift alert: a plain card", func(t *testing.T) {
		rc, err := s.Send(t.Context(), f.teamsBotChannel(botConv), notify.DriftAlert{Resource: "logs-bucket", Severity: notify.SeverityHigh})
		require.NoError(t, err)
		m := f.botMessage(t, rc.TeamsActivityID)
		assert.Equal(t, "1.5", m.Cards[0]["version"])
		assert.Contains(t, m.AllText, "logs-bucket")
		for _, b := range m.Buttons {
			assert.NotEqual(t, "Action.Execute", b.Type)
		}
	})
}

func TestTeamsBotTokenSharedByConcurrentSends(t *testing.T) {
	f := newFakes(t)
	s := f.botSender(t, nil)
	ch := f.teamsBotChannel(botConv)
	var wg sync.WaitGroup
	ids := make([]string, 40)
	for i := range 40 {
		wg.Go(func() {
			rc, err := s.Send(t.Context(), ch, notify.DriftAlert{Resource: fmt.Sprintf("r%d", i)})
			assert.NoError(t, err)
			ids[i] = rc.TeamsActivityID
		})
	}
	wg.Wait()
	assert.Equal(t, 1, f.count("token"), "40 concurrent sends, one token request")
	assert.Equal(t, 40, f.count("sendToConversation"))
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	assert.Len(t, seen, 40, "each post has its own activity ID")
	var form []string
	for _, r := range f.requests("token") {
		form = append(form, string(r.Body))
	}
	require.Len(t, form, 1)
	assert.Contains(t, form[0], "grant_type=client_credentials")
	assert.Contains(t, form[0], "scope=https%3A%2F%2Fapi.botframework.com%2F.default")
	t.Logf("40 concurrent sends: %d token request(s), %d posts", f.count("token"), f.count("sendToConversation"))
}

func TestTeamsBotTokenRefreshedBeforeExpiry(t *testing.T) {
	f := newFakes(t)
	// A token that lives 301 s is refreshed 5 minutes early: it is good
	// for about one second here, while the fake would take it for 301.
	f.srv.SetTokenLifetime(301 * time.Second)
	s := f.botSender(t, nil)
	ch := f.teamsBotChannel(botConv)
	send := func() {
		t.Helper()
		_, err := s.Send(t.Context(), ch, notify.DriftAlert{Resource: "r"})
		require.NoError(t, err)
	}
	send()
	send()
	assert.Equal(t, 1, f.count("token"), "reused while fresh")
	time.Sleep(1100 * time.Millisecond)
	send()
	send()
	assert.Equal(t, 2, f.count("token"), "renewed once inside the last 5 minutes, before the old one expired")
	for _, r := range f.requests("sendToConversation") {
		assert.Equal(t, http.StatusCreated, r.Answer)
	}
	t.Logf("4 sends over %s with expires_in 301 s: %d token requests", 1100*time.Millisecond, f.count("token"))
}

func TestTeamsBotSendErrors(t *testing.T) {
	send := notifytest.Fault{Method: "sendToConversation"}
	for _, tc := range []struct {
		name       string
		fault      notifytest.Fault
		code       string
		permanent  bool
		retryAfter time.Duration
		reason     string
	}{
		{"429", notifytest.Fault{Method: send.Method, Status: 429, RetryAfter: 3 * time.Second}, "rate_limited", false, 3 * time.Second, "Teams is rate limiting this channel; it asked to retry after 3s"},
		{"412", notifytest.Fault{Method: send.Method, Status: 412}, "http_412", false, 0, "Teams asked to try again later (HTTP 412): it will be retried"},
		{"500", notifytest.Fault{Method: send.Method, Status: 500}, "http_500", false, 0, "the Teams Bot Connector had a server error (HTTP 500): it will be retried"},
		{"502", notifytest.Fault{Method: send.Method, Status: 502}, "http_502", false, 0, "the Teams Bot Connector had a server error (HTTP 502): it will be retried"},
		{"503", notifytest.Fault{Method: send.Method, Status: 503}, "http_503", false, 0, "the Teams Bot Connector had a server error (HTTP 503): it will be retried"},
		{"504", notifytest.Fault{Method: send.Method, Status: 504}, "http_504", false, 0, "the Teams Bot Connector had a server error (HTTP 504): it will be retried"},
		{"400", notifytest.Fault{Method: send.Method, Status: 400, Error: "BadArgument"}, "BadArgument", true, 0, "the Teams Bot Connector rejected the message (HTTP 400)"},
		{"401", notifytest.Fault{Method: send.Method, Status: 401}, "Unauthorized", true, 0, "refused the bot's token (HTTP 401)"},
		{"403", notifytest.Fault{Method: send.Method, Status: 403, Error: "Forbidden"}, "Forbidden", true, 0, "refused to post in this conversation (HTTP 403)"},
		{"404", notifytest.Fault{Method: send.Method, Status: 404, Error: "ConversationNotFound"}, "ConversationNotFound", true, 0, "the Teams conversation was not found (HTTP 404)"},
		{"roster", notifytest.Fault{Method: send.Method, Status: 403, Error: "BotNotInConversationRoster"}, "bot_not_in_conversation", true, 0, msgRoster},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t)
			s := f.botSender(t, nil)
			f.srv.FailNext(1, tc.fault)
			_, err := s.Send(t.Context(), f.teamsBotChannel(botConv), notify.DriftAlert{Resource: "r"})
			de := deliveryError(t, err)
			assert.Equal(t, tc.code, de.Code)
			assert.Equal(t, tc.fault.Status, de.StatusCode)
			assert.Equal(t, tc.permanent, de.Permanent)
			assert.Equal(t, tc.retryAfter, de.RetryAfter)
			assert.Contains(t, de.Reason, tc.reason)
		})
	}

	t.Run("a 401 drops the cached token", func(t *testing.T) {
		f := newFakes(t)
		s := f.botSender(t, nil)
		ch := f.teamsBotChannel(botConv)
		_, err := s.Send(t.Context(), ch, notify.DriftAlert{Resource: "r"})
		require.NoError(t, err)
		f.srv.FailNext(1, notifytest.Fault{Method: send.Method, Status: 401})
		_, err = s.Send(t.Context(), ch, notify.DriftAlert{Resource: "r"})
		require.Error(t, err)
		_, err = s.Send(t.Context(), ch, notify.DriftAlert{Resource: "r"})
		require.NoError(t, err)
		assert.Equal(t, 2, f.count("token"), "a new token after the 401")
	})

	t.Run("update of a card that is gone", func(t *testing.T) {
		f := newFakes(t)
		s := f.botSender(t, nil)
		r := request()
		r.Status = approval.StatusApproved
		err := notify.ShowDecision(t.Context(), s, f.teamsBotChannel(botConv), notify.Post{Receipt: notify.Receipt{TeamsActivityID: "1700000099999"}}, r)
		de := deliveryError(t, err)
		assert.Equal(t, "ActivityNotFoundInConversation", de.Code)
		assert.True(t, de.Permanent)
		assert.Equal(t, "the Teams message to update no longer exists in the conversation (HTTP 404)", de.Reason)
	})

	t.Run("no bot configured", func(t *testing.T) {
		f := newFakes(t)
		_, err := f.sender(t, nil).Send(t.Context(), f.teamsBotChannel(botConv), notify.DriftAlert{Resource: "r"})
		de := deliveryError(t, err)
		assert.Equal(t, "bot_not_configured", de.Code)
		assert.True(t, de.Permanent)
		assert.Zero(t, f.count(""), "nothing requested")
	})
}

func TestTeamsBotServiceURLCheckedBeforeEveryRequest(t *testing.T) {
	f := newFakes(t)
	s := f.botSender(t, nil)
	for _, su := range []string{"https://evil.example/amer/", "https://smba.trafficmanager.net.evil.example/", "http://smba.trafficmanager.net/amer/", "http://10.0.0.1/amer/"} {
		ch := f.teamsBotChannel(botConv)
		ch.Config.ServiceURL = su // as if stored by another path
		_, err := s.Send(t.Context(), ch, notify.ApprovalRequested{Request: request()})
		de := deliveryError(t, err)
		assert.Equal(t, "invalid_service_url", de.Code, su)
		assert.True(t, de.Permanent)
		r := request()
		r.Status = approval.StatusDenied
		de = deliveryError(t, notify.ShowDecision(t.Context(), s, ch, notify.Post{Receipt: notify.Receipt{TeamsActivityID: "1"}}, r))
		assert.Equal(t, "invalid_service_url", de.Code, su)
	}
	assert.Zero(t, f.count(""), "neither a token nor a post was requested")

	t.Run("loopback without the setting", func(t *testing.T) {
		bot := f.srv.TeamsBot()
		strict, err := notify.NewSender(&notify.SenderOptions{TeamsAppID: bot.AppID, TeamsAppSecret: bot.AppSecret, TeamsAppTenant: bot.Tenant})
		require.NoError(t, err)
		_, err = strict.Send(t.Context(), f.teamsBotChannel(botConv), notify.DriftAlert{Resource: "r"})
		de := deliveryError(t, err)
		assert.Equal(t, "loopback_url_refused", de.Code)
		assert.Zero(t, f.count(""))
	})
}

func TestTeamsBotTokenErrors(t *testing.T) {
	t.Run("wrong secret", func(t *testing.T) {
		f := newFakes(t)
		const wrong = "WRONG-secret-0123456789"
		s := f.botSender(t, func(o *notify.SenderOptions) { o.TeamsAppSecret = wrong })
		_, err := s.Send(t.Context(), f.teamsBotChannel(botConv), notify.DriftAlert{Resource: "r"})
		de := deliveryError(t, err)
		assert.Equal(t, "invalid_client", de.Code)
		assert.True(t, de.Permanent)
		assert.Equal(t, "Microsoft Entra refused the Teams bot's credentials (invalid_client, AADSTS7000215): the server's operator must check its Teams app ID, client secret (it may have expired) and tenant", de.Reason)
		assert.NotContains(t, err.Error(), wrong)
		assert.NotContains(t, f.log.String(), wrong)
		assert.Zero(t, f.count("sendToConversation"))
	})
	for _, tc := range []struct {
		fault     notifytest.Fault
		code      string
		permanent bool
	}{
		{notifytest.Fault{Method: "token", Status: 503}, "http_503", false},
		{notifytest.Fault{Method: "token", Status: 429, RetryAfter: 2 * time.Second}, "rate_limited", false},
		{notifytest.Fault{Method: "token", Error: "invalid_request"}, "invalid_request", true},
	} {
		t.Run(tc.code, func(t *testing.T) {
			f := newFakes(t)
			s := f.botSender(t, nil)
			f.srv.FailNext(1, tc.fault)
			_, err := s.Send(t.Context(), f.teamsBotChannel(botConv), notify.DriftAlert{Resource: "r"})
			de := deliveryError(t, err)
			assert.Equal(t, tc.code, de.Code)
			assert.Equal(t, tc.permanent, de.Permanent)
			_, err = s.Send(t.Context(), f.teamsBotChannel(botConv), notify.DriftAlert{Resource: "r"})
			assert.NoError(t, err, "the next send gets a token")
		})
	}
	t.Run("an endpoint that echoes the secret", func(t *testing.T) {
		// x/oauth2's error texts quote the answer: none of it may reach
		// an error, a result or the log.
		const secret = "ECHOED-client-secret-42"
		for _, answer := range []func(w http.ResponseWriter, form string){
			func(w http.ResponseWriter, form string) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				fmt.Fprintf(w, `{"error":"invalid_request","error_description":"AADSTS900144: bad form %s"}`, form)
			},
			func(w http.ResponseWriter, form string) { w.WriteHeader(401); io.WriteString(w, "denied: "+form) },
			func(w http.ResponseWriter, form string) {
				w.WriteHeader(500)
				io.WriteString(w, "<html>"+form+"</html>")
			},
			func(w http.ResponseWriter, form string) {
				io.WriteString(w, `{"token_type":"Bearer","note":"`+form+`"}`)
			},
		} {
			echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				answer(w, string(b))
			}))
			f := newFakes(t)
			got := &results{}
			s := f.botSender(t, func(o *notify.SenderOptions) {
				o.TeamsAppSecret, o.TeamsTokenURL = secret, echo.URL+"/tenant/oauth2/v2.0/token"
			})
			st := memstore.New()
			seedChannel(t, st, "org-1", f.teamsBotChannel(botConv))
			d, err := notify.NewDispatcher(st, s, newFakeClock().options(&notify.DispatcherOptions{OnDelivery: got.add, Logger: debugLogger(f.log), MaxAttempts: 2, DisableRateLimit: true}))
			require.NoError(t, err)
			rs := deliver(t, d, got, "org-1", notify.DriftAlert{Resource: "r"})
			require.Len(t, rs, 1)
			assert.False(t, rs[0].OK)
			for _, s := range []string{rs[0].Error, rs[0].Code, rs[0].Err.Error(), f.log.String()} {
				assert.NotContains(t, s, secret)
				assert.NotContains(t, s, "client_secret")
			}
			require.NoError(t, d.Close(t.Context()))
			echo.Close()
		}
	})
}

// botDispatcher is a host with one Teams bot channel: a memstore, the
// bot sender and a dispatcher on a fake clock recording posts.
type botDispatcher struct {
	f     *fakes
	st    *memstore.Store
	d     *notify.Dispatcher
	svc   *approval.Service
	ch    notify.Channel
	clock *fakeClock
	got   *results
}

func newBotDispatcher(t *testing.T, set func(*notify.DispatcherOptions)) *botDispatcher {
	t.Helper()
	b := &botDispatcher{f: newFakes(t), st: memstore.New(), clock: newFakeClock(), got: &results{}}
	b.ch = seedChannel(t, b.st, "org-1", b.f.teamsBotChannel(botConv))
	o := &notify.DispatcherOptions{Posts: b.st, Approvals: b.st, Deliveries: b.st.Deliveries(), OnDelivery: b.got.add,
		Logger: debugLogger(b.f.log), Workers: 1}
	if set != nil {
		set(o)
	}
	d, err := notify.NewDispatcher(b.st, b.f.botSender(t, nil), b.clock.options(o))
	require.NoError(t, err)
	notify.SetJitter(d, func() float64 { return 0 })
	b.d = d
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	b.svc, err = approval.NewService(b.st, b.st, &approval.Options{FollowUp: d.FollowUp})
	require.NoError(t, err)
	return b
}

func TestTeamsBotRetriedByTheDispatcher(t *testing.T) {
	b := newBotDispatcher(t, func(o *notify.DispatcherOptions) { o.MaxAttempts = 8; o.DisableRateLimit = true })
	m := "sendToConversation"
	b.f.srv.FailNext(1, notifytest.Fault{Method: m, Status: 429, RetryAfter: time.Second})
	for _, st := range []int{412, 500, 502, 503, 504} {
		b.f.srv.FailNext(1, notifytest.Fault{Method: m, Status: st})
	}
	rs := deliver(t, b.d, b.got, "org-1", notify.DriftAlert{Resource: "aws_s3_bucket.logs"})
	require.Len(t, rs, 1)
	assert.True(t, rs[0].OK, rs[0].Error)
	assert.Equal(t, 7, rs[0].Attempts, "429, 412, 500, 502, 503, 504, then posted")
	assert.NotEmpty(t, rs[0].Receipt.TeamsActivityID)
	sleeps := b.clock.Sleeps()
	require.NotEmpty(t, sleeps)
	assert.Equal(t, time.Second, sleeps[0], "Retry-After honoured")
	var answers []int
	for _, r := range b.f.requests(m) {
		answers = append(answers, r.Answer)
	}
	assert.Equal(t, []int{429, 412, 500, 502, 503, 504, 201}, answers)
	assert.Equal(t, 1, b.f.count("token"), "one token for all seven attempts")
	t.Logf("answers %v, waits %v", answers, sleeps)
}

func TestTeamsBotRemovedFromConversation(t *testing.T) {
	b := newBotDispatcher(t, func(o *notify.DispatcherOptions) { o.DisableRateLimit = true })
	b.f.srv.RemoveBot(botConv)
	rs := deliver(t, b.d, b.got, "org-1", notify.DriftAlert{Resource: "aws_s3_bucket.logs"})
	require.Len(t, rs, 1)
	assert.False(t, rs[0].OK)
	assert.Equal(t, 1, rs[0].Attempts, "permanent: not retried")
	assert.Equal(t, "bot_not_in_conversation", rs[0].Code)
	assert.Equal(t, msgRoster, rs[0].Error)

	ds, err := b.st.Deliveries().ListDeliveries(t.Context(), "org-1", b.ch.ID, notify.Delivery{}, 10)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, "failed", ds[0].Status)
	assert.Equal(t, "bot_not_in_conversation", ds[0].Code)
	assert.Equal(t, msgRoster, ds[0].Reason)
	h, err := b.st.Deliveries().ChannelHealth(t.Context(), "org-1", b.ch.ID)
	require.NoError(t, err)
	assert.Equal(t, msgRoster, h.LastError)
}

func TestTeamsBotRatesPerConversation(t *testing.T) {
	b := newBotDispatcher(t, nil)
	other := b.f.teamsBotChannel(botConv2)
	other.Name = "other conversation"
	seedChannel(t, b.st, "org-2", other)
	for i := range 10 {
		require.NoError(t, b.d.Enqueue("org-1", notify.DriftAlert{Resource: fmt.Sprint("r", i)}))
	}
	notify.WaitIdle(b.d)
	// 7 per second and 8 per 2 seconds: seven at once, the 8th a second
	// later, the 9th and 10th at 2 s.
	assert.Equal(t, []time.Duration{time.Second, time.Second}, b.clock.Sleeps())
	rs := deliver(t, b.d, b.got, "org-2", notify.DriftAlert{Resource: "elsewhere"})
	require.Len(t, rs, 1)
	require.True(t, rs[0].OK)
	assert.Len(t, b.clock.Sleeps(), 2, "another conversation does not wait")
	assert.Equal(t, 11, b.f.count("sendToConversation"))
}

func TestTeamsBotCopyReplacedAfterDecision(t *testing.T) {
	b := newBotDispatcher(t, func(o *notify.DispatcherOptions) { o.DisableRateLimit = true })
	r, err := b.svc.Create(t.Context(), approval.Request{OrgID: "org-1", Title: "Open port 22 to the world", RiskScore: 91})
	require.NoError(t, err)
	rs := deliver(t, b.d, b.got, "org-1", notify.ApprovalRequested{Request: r})
	require.Len(t, rs, 1)
	require.True(t, rs[0].OK, rs[0].Error)
	id := rs[0].Receipt.TeamsActivityID
	require.NotEmpty(t, id)
	posts, err := b.st.ListPosts(t.Context(), "org-1", r.ID)
	require.NoError(t, err)
	require.Len(t, posts, 1)
	assert.Equal(t, id, posts[0].Receipt.TeamsActivityID, "the copy records the activity")
	before := b.f.botMessage(t, id)
	require.Len(t, before.Buttons, 2)

	_, err = b.svc.Review(t.Context(), "org-1", r.ID, approval.Approve, approval.Reviewer{ID: "aad-1", Name: "Jane Doe", Verified: true}, approval.SourceTeams)
	require.NoError(t, err)
	require.NoError(t, b.d.Close(t.Context()))

	ups := b.got.op("update")
	require.Len(t, ups, 1, "the bot copy is replaced, not followed up")
	assert.True(t, ups[0].OK, ups[0].Error)
	assert.Empty(t, b.got.op("follow_up"))
	reqs := b.f.requests("updateActivity")
	require.Len(t, reqs, 1)
	assert.Equal(t, id, reqs[0].ActivityID)
	assert.Equal(t, 1, b.f.count("sendToConversation"), "no second message")

	after := b.f.botMessage(t, id)
	assert.Equal(t, []string{"updateActivity"}, after.Edits)
	assert.Empty(t, after.Buttons, "no buttons on the result")
	assert.Equal(t, "1.5", after.Cards[0]["version"])
	assert.Contains(t, after.AllText, "**APPROVED** by Jane Doe")
	assert.Contains(t, after.AllText, "Open port 22 to the world")
	body, _ := json.Marshal(after.Cards[0])
	assert.Contains(t, string(body), `"style":"good"`)
	var n int
	for _, m := range b.f.srv.Messages() {
		if m.Channel == botConv {
			n++
		}
	}
	assert.Equal(t, 1, n, "the conversation holds one card, replaced in place")
}

func TestTeamsBotResultCard(t *testing.T) {
	// The card that replaces a bot copy: the request's result, green or
	// red, with the reviewer and the time, and no buttons.
	f := newFakes(t)
	s := f.botSender(t, nil)
	ch := f.teamsBotChannel(botConv)
	for _, tc := range []struct {
		status approval.Status
		line   string
		style  string
	}{
		{approval.StatusApproved, "**APPROVED** by Jane Doe", "good"},
		{approval.StatusDenied, "**DENIED** by Jane Doe", "attention"},
		{approval.StatusExpired, "Approval request has expired", "warning"},
	} {
		rc, err := s.Send(t.Context(), ch, notify.ApprovalRequested{Request: request()})
		require.NoError(t, err)
		r := request()
		at := time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC)
		r.Status, r.ReviewedBy, r.ReviewedAt = tc.status, "Jane Doe", &at
		require.NoError(t, notify.ShowDecision(t.Context(), s, ch, notify.Post{Receipt: rc}, r))
		m := f.botMessage(t, rc.TeamsActivityID)
		assert.Contains(t, m.AllText, tc.line)
		assert.Contains(t, m.AllText, "2026-03-01 12:34 UTC")
		assert.Empty(t, m.Buttons)
		b, _ := json.Marshal(m.Cards[0])
		assert.Contains(t, string(b), `"style":"`+tc.style+`"`)
	}
}

func TestTeamsBotNoSecretInLogs(t *testing.T) {
	b := newBotDispatcher(t, func(o *notify.DispatcherOptions) { o.DisableRateLimit = true })
	secret := b.f.srv.TeamsBot().AppSecret
	deliver(t, b.d, b.got, "org-1", notify.DriftAlert{Resource: "r"})
	b.f.srv.RemoveBot(botConv)
	deliver(t, b.d, b.got, "org-1", notify.DriftAlert{Resource: "r"})
	logs := b.f.log.String()
	require.Contains(t, logs, "teams_bot", "the sender logged its requests")
	require.Contains(t, logs, "bot_not_in_conversation")
	assert.NotContains(t, logs, secret)
	assert.NotContains(t, logs, "fake-entra-", "no access token either")
	for _, res := range b.got.get() {
		assert.NotContains(t, fmt.Sprintf("%+v", res), secret)
	}
	assert.True(t, strings.Contains(logs, `"via":"teams_bot"`))
}
