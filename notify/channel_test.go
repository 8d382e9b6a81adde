package notify_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify"
)

const (
	testBotToken   = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
	testSlackHook  = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXX"
	testTeamsHook  = "https://contoso.webhook.office.com/webhookb2/1111@2222/IncomingWebhook/3333/4444"
	testWorkflow   = "https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SIGSIGSIG"
	testSlackChan  = "C0123456789"
	msgChannelType = "channel_type must be 'slack' or 'teams'"
	msgSlackConfig = "Slack channels require either bot_token + channel_id or webhook_url"
	msgTeamsURL    = "Teams channels require either webhook_url or service_url + conversation_id + tenant_id"
	msgSlackURL    = "webhook_url must be an https URL on hooks.slack.com"
	msgTeamsBadURL = "webhook_url must be an https Teams webhook or Workflows URL (outlook.office.com, outlook.office365.com, *.webhook.office.com, *.logic.azure.com or *.api.powerplatform.com)"
	msgBotToken    = "bot_token must be a Slack bot token (xoxb-…)"
	msgChannelID   = "channel_id must be a Slack conversation ID such as C0123456789"
	msgPair        = "bot_token and channel_id must be given together"
	msgSlackOnly   = "bot_token and channel_id apply to Slack channels only"
	msgLoopback    = "webhook_url is on a loopback address: loopback URLs are refused unless SenderOptions.AllowLoopbackURLs is set"
)

func slackBot() notify.Channel {
	return notify.Channel{
		Type:   notify.Slack,
		Name:   "Security Alerts",
		Config: notify.ChannelConfig{BotToken: testBotToken, ChannelID: testSlackChan},
		Events: []notify.EventType{notify.EventApprovalRequest, notify.EventDriftAlert, notify.EventAgentStatus},
	}
}

func slackHook() notify.Channel {
	return notify.Channel{
		Type:   notify.Slack,
		Name:   "Alerts Webhook",
		Config: notify.ChannelConfig{WebhookURL: testSlackHook},
		Events: []notify.EventType{notify.EventDriftAlert, notify.EventAgentStatus},
	}
}

func teamsHook() notify.Channel {
	return notify.Channel{
		Type:   notify.Teams,
		Name:   "Teams Security Alerts",
		Config: notify.ChannelConfig{WebhookURL: testTeamsHook},
	}
}

func TestChannelValidateRejects(t *testing.T) {
	tests := []struct {
		name      string
		ch        notify.Channel
		wantField string
		wantMsg   string
	}{
		// channel_type
		{"empty type", with(slackBot(), func(c *notify.Channel) { c.Type = "" }), "channel_type", msgChannelType},
		{"unknown type", with(slackBot(), func(c *notify.Channel) { c.Type = "discord" }), "channel_type", msgChannelType},
		{"type is case-sensitive", with(slackBot(), func(c *notify.Channel) { c.Type = "Slack" }), "channel_type", msgChannelType},

		// name
		{"empty name", with(slackBot(), func(c *notify.Channel) { c.Name = "" }), "name", "name is required"},
		{"blank name", with(slackBot(), func(c *notify.Channel) { c.Name = " \t " }), "name", "name is required"},
		{"name too long", with(slackBot(), func(c *notify.Channel) { c.Name = strings.Repeat("a", 100+1) }), "name", "name must be at most 100 characters"},
		{"name too long in runes", with(slackBot(), func(c *notify.Channel) { c.Name = strings.Repeat("é", 100+1) }), "name", "name must be at most 100 characters"},
		{"name with newline", with(slackBot(), func(c *notify.Channel) { c.Name = "a\nb" }), "name", "name must be printable text"},
		{"name with tab", with(slackBot(), func(c *notify.Channel) { c.Name = "a\tb" }), "name", "name must be printable text"},
		{"name with NUL", with(slackBot(), func(c *notify.Channel) { c.Name = "a\x00b" }), "name", "name must be printable text"},
		{"name with escape", with(slackBot(), func(c *notify.Channel) { c.Name = "a\x1b[31mb" }), "name", "name must be printable text"},
		{"name with C1 control", with(slackBot(), func(c *notify.Channel) { c.Name = "a\u0085b" }), "name", "name must be printable text"},
		{"name invalid UTF-8", with(slackBot(), func(c *notify.Channel) { c.Name = "a\xffb" }), "name", "name must be valid UTF-8"},
		{"name invalid UTF-8 next to spaces", with(slackBot(), func(c *notify.Channel) { c.Name = " \xc3 " }), "name", "name must be valid UTF-8"},
		{"name with U+FFFD (what JSON makes of invalid UTF-8)", with(slackBot(), func(c *notify.Channel) { c.Name = "a\ufffdb" }), "name", "name must be valid UTF-8"},
		{"name with RLO", with(slackBot(), func(c *notify.Channel) { c.Name = "invoice\u202Efdp.exe" }), "name", "name must not contain invisible or bidirectional control characters (U+202E)"},
		{"name with LRE", with(slackBot(), func(c *notify.Channel) { c.Name = "a\u202Ab" }), "name", "name must not contain invisible or bidirectional control characters (U+202A)"},
		{"name with PDF", with(slackBot(), func(c *notify.Channel) { c.Name = "a\u202Cb" }), "name", "name must not contain invisible or bidirectional control characters (U+202C)"},
		{"name with LRI", with(slackBot(), func(c *notify.Channel) { c.Name = "a\u2066b" }), "name", "name must not contain invisible or bidirectional control characters (U+2066)"},
		{"name with PDI", with(slackBot(), func(c *notify.Channel) { c.Name = "a\u2069b" }), "name", "name must not contain invisible or bidirectional control characters (U+2069)"},
		{"name with RLM", with(slackBot(), func(c *notify.Channel) { c.Name = "a\u200Fb" }), "name", "name must not contain invisible or bidirectional control characters (U+200F)"},
		{"name with zero-width space", with(slackBot(), func(c *notify.Channel) { c.Name = "Sec\u200Burity" }), "name", "name must not contain invisible or bidirectional control characters (U+200B)"},
		{"name with zero-width joiner", with(slackBot(), func(c *notify.Channel) { c.Name = "a\u200Db" }), "name", "name must not contain invisible or bidirectional control characters (U+200D)"},
		{"name with word joiner", with(slackBot(), func(c *notify.Channel) { c.Name = "a\u2060b" }), "name", "name must not contain invisible or bidirectional control characters (U+2060)"},
		{"name with BOM", with(slackBot(), func(c *notify.Channel) { c.Name = "\uFEFFalerts" }), "name", "name must not contain invisible or bidirectional control characters (U+FEFF)"},

		// events
		{"unknown event", with(slackBot(), func(c *notify.Channel) { c.Events = []notify.EventType{"drift_alert", "deploy"} }), "events",
			`unknown event type "deploy": use approval_request, drift_alert or agent_status`},
		{"event case-sensitive", with(slackBot(), func(c *notify.Channel) { c.Events = []notify.EventType{"Drift_Alert"} }), "events",
			`unknown event type "Drift_Alert": use approval_request, drift_alert or agent_status`},
		{"empty event", with(slackBot(), func(c *notify.Channel) { c.Events = []notify.EventType{""} }), "events",
			`unknown event type "": use approval_request, drift_alert or agent_status`},
		{"test event is not subscribable", with(slackBot(), func(c *notify.Channel) { c.Events = []notify.EventType{"test"} }), "events",
			`unknown event type "test": use approval_request, drift_alert or agent_status`},
		{"long unknown event truncated", with(slackBot(), func(c *notify.Channel) { c.Events = []notify.EventType{notify.EventType(strings.Repeat("x", 500))} }), "events",
			`unknown event type "` + strings.Repeat("x", 39) + `…": use approval_request, drift_alert or agent_status`},

		// Slack config
		{"slack without config", with(slackBot(), func(c *notify.Channel) { c.Config = notify.ChannelConfig{} }), "config", msgSlackConfig},
		{"slack bot_token alone", with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "" }), "config", msgSlackConfig},
		{"slack channel_id alone", with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "" }), "config", msgSlackConfig},
		{"slack blank values", with(slackBot(), func(c *notify.Channel) {
			c.Config = notify.ChannelConfig{BotToken: " ", ChannelID: " ", WebhookURL: " "}
		}), "config", msgSlackConfig},
		{"user token", with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "xoxp-1234-5678-abcdef" }), "config.bot_token", msgBotToken},
		{"app token", with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "xapp-1-A0-1-abc" }), "config.bot_token", msgBotToken},
		{"bare prefix", with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "xoxb-" }), "config.bot_token", msgBotToken},
		{"token with space", with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "xoxb-123 456" }), "config.bot_token", msgBotToken},
		{"token upper-case prefix", with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "XOXB-123-456" }), "config.bot_token", msgBotToken},
		{"masked token", with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "xoxb-…UvWx" }), "config.bot_token", msgBotToken},
		{"token too long", with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "xoxb-" + strings.Repeat("a", 252) }), "config.bot_token", msgBotToken},
		{"channel name not ID", with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "#general" }), "config.channel_id", msgChannelID},
		{"channel ID lower case", with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "c0123456789" }), "config.channel_id", msgChannelID},
		{"channel ID too short", with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "C0123456" }), "config.channel_id", msgChannelID},
		{"channel ID too long", with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "C" + strings.Repeat("0", 21) }), "config.channel_id", msgChannelID},
		{"user ID is not a conversation", with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "U0123456789" }), "config.channel_id", msgChannelID},
		{"bot_token and webhook without channel_id", with(slackBot(), func(c *notify.Channel) {
			c.Config = notify.ChannelConfig{BotToken: testBotToken, WebhookURL: testSlackHook}
		}), "config", msgPair},
		{"channel_id and webhook without bot_token", with(slackBot(), func(c *notify.Channel) {
			c.Config = notify.ChannelConfig{ChannelID: testSlackChan, WebhookURL: testSlackHook}
		}), "config", msgPair},
		{"slack webhook on teams host", with(slackHook(), func(c *notify.Channel) { c.Config.WebhookURL = testTeamsHook }), "config.webhook_url", msgSlackURL},
		{"slack webhook bad URL next to valid bot", with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = "https://evil.example/" }), "config.webhook_url", msgSlackURL},
		{"slack webhook too long", with(slackHook(), func(c *notify.Channel) {
			c.Config.WebhookURL = "https://hooks.slack.com/services/" + strings.Repeat("X", 2048)
		}), "config.webhook_url", msgSlackURL},

		// Teams config
		{"teams without webhook", with(teamsHook(), func(c *notify.Channel) { c.Config.WebhookURL = "" }), "config", msgTeamsURL},
		{"teams blank webhook", with(teamsHook(), func(c *notify.Channel) { c.Config.WebhookURL = "  " }), "config", msgTeamsURL},
		{"teams with bot_token", with(teamsHook(), func(c *notify.Channel) { c.Config.BotToken = testBotToken }), "config", msgSlackOnly},
		{"teams with channel_id", with(teamsHook(), func(c *notify.Channel) { c.Config.ChannelID = testSlackChan }), "config", msgSlackOnly},
		{"teams with bot fields and no webhook", with(teamsHook(), func(c *notify.Channel) {
			c.Config = notify.ChannelConfig{BotToken: testBotToken, ChannelID: testSlackChan}
		}), "config", msgSlackOnly},
		{"teams webhook on slack host", with(teamsHook(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook }), "config.webhook_url", msgTeamsBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.ch.Validate()
			require.Error(t, err)
			assert.Equal(t, tt.wantMsg, err.Error())
			assert.Equal(t, tt.wantField, notify.ValidationField(err))
			for _, secret := range []string{testBotToken, testSlackHook, testTeamsHook, "XXXXXXXX"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

func TestChannelValidateAcceptsAndNormalizes(t *testing.T) {
	all := notify.AllEvents()
	tests := []struct {
		name string
		ch   notify.Channel
		want notify.Channel
	}{
		{"slack bot", slackBot(), slackBot()},
		{"slack webhook", slackHook(), slackHook()},
		{"teams webhook, events default to all", teamsHook(), with(teamsHook(), func(c *notify.Channel) { c.Events = all })},
		{"teams workflows", with(teamsHook(), func(c *notify.Channel) { c.Config.WebhookURL = testWorkflow }),
			with(teamsHook(), func(c *notify.Channel) { c.Config.WebhookURL = testWorkflow; c.Events = all })},
		{"slack bot and webhook together", with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook }),
			with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook })},
		{"nil events means all", with(slackBot(), func(c *notify.Channel) { c.Events = nil }), slackBot()},
		{"empty events means all", with(slackBot(), func(c *notify.Channel) { c.Events = []notify.EventType{} }), slackBot()},
		{"duplicates removed, order kept", with(slackHook(), func(c *notify.Channel) {
			c.Events = []notify.EventType{"agent_status", "drift_alert", "agent_status", "drift_alert", "agent_status"}
		}), with(slackHook(), func(c *notify.Channel) { c.Events = []notify.EventType{"agent_status", "drift_alert"} })},
		{"spaces trimmed", with(slackBot(), func(c *notify.Channel) {
			c.Name = "  Security Alerts\u00a0 "
			c.Config.BotToken = " " + testBotToken + "\n"
			c.Config.ChannelID = "\t" + testSlackChan + " "
		}), slackBot()},
		{"name at the limit in runes", with(slackBot(), func(c *notify.Channel) { c.Name = strings.Repeat("é", 100) }),
			with(slackBot(), func(c *notify.Channel) { c.Name = strings.Repeat("é", 100) })},
		{"name with emoji and punctuation", with(slackBot(), func(c *notify.Channel) { c.Name = "Sécurité 🚨 #alerts (prod)" }),
			with(slackBot(), func(c *notify.Channel) { c.Name = "Sécurité 🚨 #alerts (prod)" })},
		{"private channel ID", with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "G0123456789" }),
			with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "G0123456789" })},
		{"DM ID", with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "D0123456789" }),
			with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "D0123456789" })},
		{"token at max length", with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "xoxb-" + strings.Repeat("a", 251) }),
			with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = "xoxb-" + strings.Repeat("a", 251) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ch.Validate()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestChannelValidateDoesNotModifyInput(t *testing.T) {
	events := []notify.EventType{"drift_alert", "drift_alert"}
	ch := with(slackBot(), func(c *notify.Channel) { c.Events = events })
	_, err := ch.Validate()
	require.NoError(t, err)
	assert.Equal(t, []notify.EventType{"drift_alert", "drift_alert"}, events)
}

// The webhook URL allow-list, as seen through Validate.
func TestChannelValidateWebhookURL(t *testing.T) {
	tests := []struct {
		name     string
		typ      notify.ChannelType
		url      string
		loopback bool
		ok       bool
	}{
		{"slack hooks.slack.com", notify.Slack, testSlackHook, false, true},
		{"teams outlook.office.com", notify.Teams, "https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d", false, true},
		{"teams outlook.office365.com", notify.Teams, "https://outlook.office365.com/webhook/a@b/IncomingWebhook/c/d", false, true},
		{"teams tenant webhook.office.com", notify.Teams, testTeamsHook, false, true},
		{"teams workflows logic.azure.com", notify.Teams, testWorkflow, false, true},
		{"teams workflows powerplatform", notify.Teams, "https://x.westeu.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/a/triggers/manual/paths/invoke?sig=s", false, true},

		{"bypass: allowed host in path", notify.Teams, "https://evil.example/x.webhook.office.com/", false, false},
		{"bypass: allowed host as prefix", notify.Teams, "https://outlook.office.com.evil.example/", false, false},
		{"bypass: logic.azure.com in path", notify.Teams, "https://evil.example/a.logic.azure.com", false, false},
		{"bypass: slack host as userinfo", notify.Slack, "https://hooks.slack.com@evil.example/", false, false},
		{"bypass: teams host as userinfo", notify.Teams, "https://outlook.office.com@evil.example/webhook", false, false},
		{"bypass: slack host as prefix", notify.Slack, "https://hooks.slack.com.evil.example/services/T/B/X", false, false},
		{"http slack", notify.Slack, "http://hooks.slack.com/services/T/B/X", false, false},
		{"http teams", notify.Teams, "http://outlook.office.com/webhook/x", false, false},
		{"http non-loopback even with loopback allowed", notify.Slack, "http://hooks.slack.com/services/T/B/X", true, false},
		{"port 8443", notify.Slack, "https://hooks.slack.com:8443/services/T/B/X", false, false},
		{"port 80", notify.Teams, "https://outlook.office.com:80/webhook/x", false, false},
		{"IPv4 literal", notify.Slack, "https://54.1.2.3/services/T/B/X", false, false},
		{"IPv6 literal", notify.Teams, "https://[2603:1000::1]/webhook/x", false, false},
		{"metadata IP", notify.Teams, "https://169.254.169.254/latest/meta-data/", false, false},
		{"relative URL", notify.Slack, "/services/T/B/X", false, false},
		{"no scheme", notify.Slack, "hooks.slack.com/services/T/B/X", false, false},

		{"loopback IP refused by default", notify.Slack, "http://127.0.0.1:8080/hook", false, false},
		{"localhost refused by default", notify.Teams, "https://localhost:8443/hook", false, false},
		{"IPv6 loopback refused by default", notify.Slack, "https://[::1]/hook", false, false},
		{"loopback IP accepted when allowed", notify.Slack, "http://127.0.0.1:8080/hook", true, true},
		{"localhost accepted when allowed", notify.Teams, "http://localhost:8080/hook", true, true},
		{"IPv6 loopback accepted when allowed", notify.Teams, "https://[::1]:8443/hook", true, true},
		{"non-loopback IP still rejected when loopback allowed", notify.Slack, "https://10.0.0.1/hook", true, false},
		{"allowed host still accepted when loopback allowed", notify.Slack, testSlackHook, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := notify.Channel{Type: tt.typ, Name: "n", Config: notify.ChannelConfig{WebhookURL: tt.url}}
			_, err := notify.ValidateWith(ch, tt.loopback)
			if !tt.loopback {
				_, strictErr := ch.Validate()
				assert.Equal(t, err, strictErr, "Validate is the strict policy")
			}
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			want := msgSlackURL
			if tt.typ == notify.Teams {
				want = msgTeamsBadURL
			}
			if strings.HasPrefix(tt.name, "loopback") || strings.HasPrefix(tt.name, "localhost") || strings.HasPrefix(tt.name, "IPv6 loopback") {
				want = msgLoopback // the real cause, not the channel
			}
			require.Error(t, err)
			assert.Equal(t, "config.webhook_url", notify.ValidationField(err))
			assert.Equal(t, want, err.Error())
		})
	}
}

func TestChannelValidateWebhookURLLength(t *testing.T) {
	ch := notify.Channel{Type: notify.Slack, Name: "n", Config: notify.ChannelConfig{WebhookURL: "https://hooks.slack.com/" + strings.Repeat("x", 2048)}}
	_, err := ch.Validate()
	assert.EqualError(t, err, msgSlackURL, "over 2048 bytes")
}

func TestChannelUsesBot(t *testing.T) {
	assert.True(t, slackBot().UsesBot())
	assert.True(t, with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook }).UsesBot(), "bot preferred")
	assert.False(t, slackHook().UsesBot())
	assert.False(t, with(slackBot(), func(c *notify.Channel) { c.Config.ChannelID = "" }).UsesBot())
	assert.False(t, with(slackBot(), func(c *notify.Channel) { c.Type = notify.Teams }).UsesBot())
}

// with returns ch changed by f.
func with(ch notify.Channel, f func(*notify.Channel)) notify.Channel {
	f(&ch)
	return ch
}
