package notify

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chatnotify/chatnotify/internal/webhookurl"
)

// ChannelType is the chat platform a [Channel] delivers to.
type ChannelType string

// The supported platforms.
const (
	Slack ChannelType = "slack"
	Teams ChannelType = "teams"
)

// EventType names a kind of notification a channel can subscribe to.
type EventType string

// The event types of the spec. A channel whose Events list is empty
// receives all three.
const (
	EventApprovalRequest EventType = "approval_request"
	EventDriftAlert      EventType = "drift_alert"
	EventAgentStatus     EventType = "agent_status"
)

// EventTypes returns every subscribable event type, in the spec's order.
func EventTypes() []EventType {
	return []EventType{EventApprovalRequest, EventDriftAlert, EventAgentStatus}
}

// Limits on channel fields, enforced by [Channel.Validate].
const (
	MaxNameLength = 100  // characters
	MaxURLLength  = 2048 // bytes
	maxTokenLen   = 256
)

// slackWebhookHosts is the allow-list for Slack incoming webhook URLs.
var slackWebhookHosts = []string{"hooks.slack.com"}

// teamsWebhookHosts is the allow-list for Teams incoming webhook and
// Workflows URLs.
var teamsWebhookHosts = []string{
	"outlook.office.com",
	"outlook.office365.com",
	"*.webhook.office.com",
	"*.logic.azure.com",
	"*.api.powerplatform.com",
}

// A Channel is one configured notification destination of an
// organisation: a Slack channel (bot token and channel ID, or incoming
// webhook) or a Teams channel (incoming webhook or Workflows URL).
type Channel struct {
	ID   string      `json:"id"`
	Type ChannelType `json:"channel_type"`
	Name string      `json:"name"`
	// OrgID is the organisation owning the channel. It is set by the
	// host's Authorizer, never by a client, and never serialised.
	OrgID  string        `json:"-"`
	Config ChannelConfig `json:"config"`
	// Events lists the event types the channel receives. After
	// [Channel.Validate] it is never empty.
	Events []EventType `json:"events"`
	// Enabled channels receive events; disabled ones keep their settings
	// but are skipped by the dispatcher.
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ChannelConfig holds how to reach a channel. BotToken and WebhookURL are
// secrets: the settings API only ever shows them masked (see
// [ChannelConfig.Masked]).
type ChannelConfig struct {
	BotToken   string `json:"bot_token,omitempty"`
	ChannelID  string `json:"channel_id,omitempty"`
	WebhookURL string `json:"webhook_url,omitempty"`
}

// Subscribed reports whether the channel receives events of type t.
func (ch Channel) Subscribed(t EventType) bool {
	return len(ch.Events) == 0 || slices.Contains(ch.Events, t)
}

// UsesBot reports whether deliveries to the channel go through the Slack
// Web API with a bot token (which allows interactive buttons and later
// edits) rather than an incoming webhook.
func (ch Channel) UsesBot() bool {
	return ch.Type == Slack && ch.Config.BotToken != "" && ch.Config.ChannelID != ""
}

// ValidateOptions adjusts [Channel.Validate]. The zero value is the strict
// production policy.
type ValidateOptions struct {
	// AllowLoopbackURLs also accepts http and https webhook URLs whose
	// host is a loopback address, for tests and local sandboxes. Defaults
	// to false; never enable it in production.
	AllowLoopbackURLs bool
}

// ValidationError is returned by [Channel.Validate] for a channel a client
// must fix. Message is meant for the client: it is the spec's wording where
// the spec has one, and it never contains a secret.
type ValidationError struct {
	Field   string // JSON name of the offending field, if any
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

var (
	slackBotToken       = regexp.MustCompile(`^xoxb-[A-Za-z0-9-]+$`)
	slackConversationID = regexp.MustCompile(`^[CGD][A-Z0-9]{8,20}$`)
)

// Validate checks ch as the settings API does before storing it and
// returns it normalised: surrounding spaces trimmed from the name and
// config values, duplicate events removed, and an empty event list
// replaced by all event types. An invalid channel yields a
// *[ValidationError].
func (ch Channel) Validate(opts *ValidateOptions) (Channel, error) {
	if opts == nil {
		opts = &ValidateOptions{}
	}
	if ch.Type != Slack && ch.Type != Teams {
		return ch, invalid("channel_type", "channel_type must be 'slack' or 'teams'")
	}
	ch.Name = strings.TrimSpace(ch.Name)
	switch {
	case ch.Name == "":
		return ch, invalid("name", "name is required")
	case utf8.RuneCountInString(ch.Name) > MaxNameLength:
		return ch, invalid("name", "name must be at most %d characters", MaxNameLength)
	case !utf8.ValidString(ch.Name) || strings.IndexFunc(ch.Name, unicode.IsControl) >= 0:
		return ch, invalid("name", "name must be printable text")
	}
	events, err := normalizeEvents(ch.Events)
	if err != nil {
		return ch, err
	}
	ch.Events = events

	c := &ch.Config
	c.BotToken = strings.TrimSpace(c.BotToken)
	c.ChannelID = strings.TrimSpace(c.ChannelID)
	c.WebhookURL = strings.TrimSpace(c.WebhookURL)
	switch ch.Type {
	case Slack:
		hasBot := c.BotToken != "" && c.ChannelID != ""
		if !hasBot && c.WebhookURL == "" {
			return ch, invalid("config", "Slack channels require either bot_token + channel_id or webhook_url")
		}
		if c.BotToken != "" && (len(c.BotToken) > maxTokenLen || !slackBotToken.MatchString(c.BotToken)) {
			return ch, invalid("config.bot_token", "bot_token must be a Slack bot token (xoxb-…)")
		}
		if c.ChannelID != "" && !slackConversationID.MatchString(c.ChannelID) {
			return ch, invalid("config.channel_id", "channel_id must be a Slack conversation ID such as C0123456789")
		}
		if c.BotToken != "" && c.ChannelID == "" || c.BotToken == "" && c.ChannelID != "" {
			return ch, invalid("config", "bot_token and channel_id must be given together")
		}
		if c.WebhookURL != "" {
			if err := checkURL(c.WebhookURL, slackWebhookHosts, opts); err != nil {
				return ch, invalid("config.webhook_url", "webhook_url must be an https URL on hooks.slack.com")
			}
		}
	case Teams:
		if c.BotToken != "" || c.ChannelID != "" {
			return ch, invalid("config", "bot_token and channel_id apply to Slack channels only")
		}
		if c.WebhookURL == "" {
			return ch, invalid("config.webhook_url", "A webhook_url is required for Teams channels")
		}
		if err := checkURL(c.WebhookURL, teamsWebhookHosts, opts); err != nil {
			return ch, invalid("config.webhook_url", "webhook_url must be an https Teams webhook or Workflows URL (outlook.office.com, outlook.office365.com, *.webhook.office.com, *.logic.azure.com or *.api.powerplatform.com)")
		}
	}
	return ch, nil
}

func checkURL(raw string, hosts []string, opts *ValidateOptions) error {
	if len(raw) > MaxURLLength {
		return webhookurl.ErrMalformed
	}
	return webhookurl.Check(raw, hosts, opts.AllowLoopbackURLs)
}

// CheckWebhookURL reports whether raw is an acceptable webhook URL for a
// channel of type t, by the same rules as [Channel.Validate]. Senders call
// it again before every request, so a URL that reached a store by another
// path is never requested.
func CheckWebhookURL(t ChannelType, raw string, opts *ValidateOptions) error {
	if opts == nil {
		opts = &ValidateOptions{}
	}
	switch t {
	case Slack:
		return checkURL(raw, slackWebhookHosts, opts)
	case Teams:
		return checkURL(raw, teamsWebhookHosts, opts)
	}
	return fmt.Errorf("notify: unknown channel type %q", t)
}

func normalizeEvents(in []EventType) ([]EventType, error) {
	if len(in) == 0 {
		return EventTypes(), nil
	}
	out := make([]EventType, 0, len(in))
	for _, e := range in {
		if !slices.Contains(EventTypes(), e) {
			return nil, invalid("events", "unknown event type %q: use approval_request, drift_alert or agent_status", truncate(string(e), 40))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// truncate shortens s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
