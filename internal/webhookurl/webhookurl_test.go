package webhookurl_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatnotify/chatnotify/internal/webhookurl"
)

var (
	slackHosts = []string{"hooks.slack.com"}
	teamsHosts = []string{
		"outlook.office.com",
		"outlook.office365.com",
		"*.webhook.office.com",
		"*.logic.azure.com",
		"*.api.powerplatform.com",
	}
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name          string
		raw           string
		hosts         []string
		allowLoopback bool
		want          error
	}{
		// Accepted.
		{"slack webhook", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXX", slackHosts, false, nil},
		{"slack host upper case", "https://HOOKS.Slack.COM/services/T/B/X", slackHosts, false, nil},
		{"slack host trailing dot", "https://hooks.slack.com./services/T/B/X", slackHosts, false, nil},
		{"explicit port 443", "https://hooks.slack.com:443/services/T/B/X", slackHosts, false, nil},
		{"scheme upper case", "HTTPS://hooks.slack.com/services/T/B/X", slackHosts, false, nil},
		{"teams legacy outlook.office.com", "https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d", teamsHosts, false, nil},
		{"teams legacy outlook.office365.com", "https://outlook.office365.com/webhook/a@b/IncomingWebhook/c/d", teamsHosts, false, nil},
		{"teams tenant webhook.office.com", "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d", teamsHosts, false, nil},
		{"workflows logic.azure.com", "https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=s", teamsHosts, false, nil},
		{"workflows powerplatform", "https://default1.westeu.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke?sig=s", teamsHosts, false, nil},

		// Malformed.
		{"empty", "", slackHosts, false, webhookurl.ErrMalformed},
		{"relative", "/services/T/B/X", slackHosts, false, webhookurl.ErrMalformed},
		{"no host", "https:///services/T/B/X", slackHosts, false, webhookurl.ErrMalformed},
		{"opaque", "https:hooks.slack.com/services", slackHosts, false, webhookurl.ErrMalformed},
		{"control character", "https://hooks.slack.com/ser\nvices", slackHosts, false, webhookurl.ErrMalformed},
		{"backslash userinfo trick", `https://evil.example\@hooks.slack.com/`, slackHosts, false, webhookurl.ErrMalformed},
		{"percent-encoded dot in host", "https://hooks.slack.com%2eevil.example/", slackHosts, false, webhookurl.ErrMalformed},

		// Scheme.
		{"http non-loopback", "http://hooks.slack.com/services/T/B/X", slackHosts, false, webhookurl.ErrScheme},
		{"http non-loopback with loopback allowed", "http://hooks.slack.com/services/T/B/X", slackHosts, true, webhookurl.ErrScheme},
		{"ftp", "ftp://hooks.slack.com/services", slackHosts, false, webhookurl.ErrScheme},
		{"javascript", "javascript://hooks.slack.com/%0aalert(1)", slackHosts, false, webhookurl.ErrScheme},

		// User information.
		{"userinfo host trick", "https://hooks.slack.com@evil.example/", slackHosts, false, webhookurl.ErrUserInfo},
		{"userinfo with password", "https://user:pass@hooks.slack.com/services/T/B/X", slackHosts, false, webhookurl.ErrUserInfo},
		{"userinfo on loopback", "http://a@127.0.0.1:8080/", slackHosts, true, webhookurl.ErrUserInfo},

		// Host allow-list: the go-teams-notify bypasses and friends.
		{"bypass path holds allowed host", "https://evil.example/x.webhook.office.com/", teamsHosts, false, webhookurl.ErrHost},
		{"bypass allowed host as prefix", "https://outlook.office.com.evil.example/", teamsHosts, false, webhookurl.ErrHost},
		{"bypass path holds logic.azure.com", "https://evil.example/a.logic.azure.com", teamsHosts, false, webhookurl.ErrHost},
		{"bypass query holds allowed host", "https://evil.example/?h=hooks.slack.com", slackHosts, false, webhookurl.ErrHost},
		{"bypass fragment holds allowed host", "https://evil.example#hooks.slack.com", slackHosts, false, webhookurl.ErrHost},
		{"suffix without dot", "https://evilwebhook.office.com/x", teamsHosts, false, webhookurl.ErrHost},
		{"bare wildcard suffix", "https://webhook.office.com/x", teamsHosts, false, webhookurl.ErrHost},
		{"empty label before wildcard suffix", "https://.webhook.office.com/x", teamsHosts, false, webhookurl.ErrHost},
		{"subdomain of exact entry", "https://x.hooks.slack.com/services", slackHosts, false, webhookurl.ErrHost},
		{"slack host on teams list", "https://hooks.slack.com/services/T/B/X", teamsHosts, false, webhookurl.ErrHost},
		{"teams host on slack list", "https://outlook.office.com/webhook/x", slackHosts, false, webhookurl.ErrHost},
		{"port 8443", "https://hooks.slack.com:8443/services/T/B/X", slackHosts, false, webhookurl.ErrHost},
		{"port 80 over https", "https://hooks.slack.com:80/services/T/B/X", slackHosts, false, webhookurl.ErrHost},
		{"port 0443", "https://hooks.slack.com:0443/services/T/B/X", slackHosts, false, webhookurl.ErrHost},
		{"IPv4 literal", "https://52.1.2.3/services/T/B/X", slackHosts, false, webhookurl.ErrHost},
		{"IPv6 literal", "https://[2600:1f18::1]/services/T/B/X", slackHosts, false, webhookurl.ErrHost},
		{"metadata address", "https://169.254.169.254/latest/meta-data/", teamsHosts, false, webhookurl.ErrHost},
		{"non-ASCII host", "https://hooks.slack.com\u3002evil.example/", slackHosts, false, webhookurl.ErrHost},
		{"non-ASCII label before allowed suffix", "https://\u0435vil.webhook.office.com/x", teamsHosts, false, webhookurl.ErrHost},
		{"double dot before wildcard suffix", "https://a..webhook.office.com/x", teamsHosts, false, webhookurl.ErrHost},
		{"hyphen-only label before wildcard suffix", "https://-.webhook.office.com/x", teamsHosts, false, webhookurl.ErrHost},
		{"underscore in wildcard label", "https://a_b.webhook.office.com/x", teamsHosts, false, webhookurl.ErrHost},
		{"wildcard label ending with hyphen", "https://x-.webhook.office.com/x", teamsHosts, false, webhookurl.ErrHost},
		{"wildcard label starting with hyphen", "https://-x.logic.azure.com/workflows", teamsHosts, false, webhookurl.ErrHost},
		{"bad inner label of a multi-label wildcard", "https://prod-12.west_us.logic.azure.com/workflows", teamsHosts, false, webhookurl.ErrHost},
		{"empty allow-list", "https://hooks.slack.com/services/T/B/X", nil, false, webhookurl.ErrHost},

		// Loopback, only when allowed.
		{"loopback rejected by default", "https://127.0.0.1/hook", slackHosts, false, webhookurl.ErrHost},
		{"http loopback rejected by default", "http://127.0.0.1:8080/hook", slackHosts, false, webhookurl.ErrScheme},
		{"localhost rejected by default", "https://localhost/hook", slackHosts, false, webhookurl.ErrHost},
		{"http 127.0.0.1 allowed", "http://127.0.0.1:41234/hook", slackHosts, true, nil},
		{"https 127.0.0.1 allowed", "https://127.0.0.1:41234/hook", slackHosts, true, nil},
		{"127.8.9.10 allowed", "http://127.8.9.10/hook", slackHosts, true, nil},
		{"http localhost allowed", "http://localhost:8080/hook", teamsHosts, true, nil},
		{"http ::1 allowed", "http://[::1]:8080/hook", teamsHosts, true, nil},
		{"IPv4-mapped loopback allowed", "http://[::ffff:127.0.0.1]:8080/hook", teamsHosts, true, nil},
		{"localhost lookalike", "http://localhost.evil.example/hook", slackHosts, true, webhookurl.ErrScheme},
		{"https localhost lookalike", "https://localhost.evil.example/hook", slackHosts, true, webhookurl.ErrHost},
		{"private address is not loopback", "http://10.0.0.1/hook", slackHosts, true, webhookurl.ErrScheme},
		{"ws scheme on loopback", "ws://127.0.0.1/hook", slackHosts, true, webhookurl.ErrScheme},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhookurl.Check(tt.raw, tt.hosts, tt.allowLoopback)
			assert.ErrorIs(t, err, tt.want)
			if tt.want == nil {
				assert.NoError(t, err)
			}
		})
	}
}

func TestCheckErrorsNeverContainTheURL(t *testing.T) {
	const secret = "XXXXsecretXXXX"
	for _, raw := range []string{
		"http://hooks.slack.com/services/" + secret,
		"https://evil.example/" + secret,
		"https://u@hooks.slack.com/" + secret,
		"https:///" + secret,
	} {
		err := webhookurl.Check(raw, slackHosts, false)
		if assert.Error(t, err, raw) {
			assert.NotContains(t, err.Error(), secret)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		host string
		want bool
	}{
		// Exact entries.
		{"outlook.office.com", true},
		{"outlook.office365.com", true},
		{"evil.outlook.office.com", false},
		{"outlook.office.com.evil.example", false},
		{"", false},

		// Wildcard entries: valid labels before the suffix.
		{"a.webhook.office.com", true},
		{"contoso.webhook.office.com", true},
		{"a.b.webhook.office.com", true},
		{"xn--bcher-kva.webhook.office.com", true},
		{"a-b.webhook.office.com", true},
		{"0.webhook.office.com", true},
		{"prod-12.westus.logic.azure.com", true},
		{"default1.westeu.environment.api.powerplatform.com", true},
		{long63 + ".webhook.office.com", true},

		// Wildcard entries: the suffix alone, or not on a label boundary.
		{"webhook.office.com", false},
		{"xwebhook.office.com", false},
		{"logic.azure.com", false},

		// Wildcard entries: a label that is not a DNS label.
		{".webhook.office.com", false},          // empty label
		{"a..webhook.office.com", false},        // empty inner label
		{"..webhook.office.com", false},         // two empty labels
		{"a.b..webhook.office.com", false},      // empty label next to the suffix
		{"-.webhook.office.com", false},         // hyphen only
		{"-a.webhook.office.com", false},        // leading hyphen
		{"x-.webhook.office.com", false},        // trailing hyphen
		{"a.x-.webhook.office.com", false},      // trailing hyphen, inner label
		{"a_b.webhook.office.com", false},       // underscore
		{"a b.webhook.office.com", false},       // space
		{"a*b.webhook.office.com", false},       // asterisk
		{"*.webhook.office.com", false},         // the pattern itself
		{"A.webhook.office.com", false},         // not lower-cased by the caller
		{"caf\u00e9.webhook.office.com", false}, // non-ASCII
		{"prod_12.westus.logic.azure.com", false},
		{"prod-12.westus-.logic.azure.com", false},
		{long63 + "a.webhook.office.com", false},                  // 64-character label
		{strings.Repeat("a.", 120) + "webhook.office.com", false}, // over 253 characters
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			assert.Equal(t, tt.want, webhookurl.HostAllowed(tt.host, teamsHosts))
		})
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"localhost.evil.example", false},
		{"128.0.0.1", false},
		{"0.0.0.0", false},
		{"10.0.0.1", false},
		{"::", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			assert.Equal(t, tt.want, webhookurl.IsLoopback(tt.host))
		})
	}
}
