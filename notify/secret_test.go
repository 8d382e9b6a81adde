package notify_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatnotify/chatnotify/notify"
)

// maskToken and maskURL are the masks ChannelConfig.Masked applies.
func maskToken(tok string) string { return notify.ChannelConfig{BotToken: tok}.Masked().BotToken }

func maskURL(raw string) string { return notify.ChannelConfig{WebhookURL: raw}.Masked().WebhookURL }

func TestMaskToken(t *testing.T) {
	tests := []struct {
		name, token, want string
	}{
		{"empty", "", ""},
		{"bot token", "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-…UvWx"},
		{"rest exactly 16", "xoxb-0123456789abcdef", "xoxb-…cdef"},
		{"rest 15 hides everything", "xoxb-0123456789abcde", "xoxb-…"},
		{"short token", "xoxb-abc", "xoxb-…"},
		{"no dash", "0123456789abcdefghijklmnop", "…"},
		{"long prefix is not shown", "secretprefix-0123456789abcdefghij", "…ghij"},
		{"user token", "xoxp-1234567890-1234567890-1234567890-abcdef", "xoxp-…cdef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := maskToken(tt.token)
			assert.Equal(t, tt.want, got)
			if tt.token != "" {
				assert.True(t, notify.IsMasked(got), "a masked token is recognisable")
				assert.NotEqual(t, tt.token, got)
			}
		})
	}
}

// However a token is shaped, its mask shows at most a short prefix and
// the last four characters.
func TestMaskTokenHidesTheMiddle(t *testing.T) {
	for _, tok := range []string{
		"xoxb-1111111111-2222222222222-SECRETSECRETSECRET1234",
		"xoxb-SECRETSECRETSECRETSECRET",
		"SECRETSECRETSECRET-SECRETSECRETSECRET",
		"-SECRETSECRETSECRETSECRET",
	} {
		got := maskToken(tok)
		assert.NotContains(t, got, "SECRET", tok)
		assert.LessOrEqual(t, len([]rune(got)), len("xoxb-")+1+4, "mask %q of %q", got, tok)
	}
}

func TestMaskURL(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"empty", "", ""},
		{"slack", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXX", "https://hooks.slack.com/…"},
		{"teams legacy", "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d", "https://contoso.webhook.office.com/…"},
		{"workflows with port and sig", "https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIG", "https://prod-12.westus.logic.azure.com:443/…"},
		{"userinfo dropped", "https://user:pass@hooks.slack.com/services/x", "https://hooks.slack.com/…"},
		{"fragment dropped", "https://hooks.slack.com/services/x#frag", "https://hooks.slack.com/…"},
		{"no scheme", "hooks.slack.com/services/T/B/X", "…"},
		{"unparsable", "https://hooks.slack.com/%zz", "…"},
		{"opaque", "mailto:someone@example.com", "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := maskURL(tt.url)
			assert.Equal(t, tt.want, got)
			if tt.url != "" {
				assert.True(t, notify.IsMasked(got))
			}
		})
	}
}

func TestIsMasked(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", false},
		{"xoxb-123-456-abcdef", false},
		{"https://hooks.slack.com/services/T/B/X", false},
		{"xoxb-…a1b2", true},
		{"https://hooks.slack.com/…", true},
		{"…", true},
		{"xoxb-...a1b2", false}, // three dots are not the mask mark
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			assert.Equal(t, tt.want, notify.IsMasked(tt.s))
		})
	}
}

func TestChannelConfigMasked(t *testing.T) {
	c := notify.ChannelConfig{
		BotToken:   "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
		ChannelID:  "C0123456789",
		WebhookURL: "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXX",
	}
	got := c.Masked()
	assert.Equal(t, notify.ChannelConfig{
		BotToken:   "xoxb-…UvWx",
		ChannelID:  "C0123456789",
		WebhookURL: "https://hooks.slack.com/…",
	}, got)
	assert.False(t, strings.Contains(got.BotToken+got.WebhookURL, "XXXX"))
	assert.Equal(t, notify.ChannelConfig{}, notify.ChannelConfig{}.Masked(), "empty secrets stay empty")
}
