package notify

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chatnotify/chatnotify/internal/chattext"
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

// eventTypes returns every subscribable event type, in the spec's order.
func eventTypes() []EventType {
	return []EventType{EventApprovalRequest, EventDriftAlert, EventAgentStatus}
}

// Limits on channel fields, enforced by [Channel.Validate] and named in
// its errors.
const (
	maxNameLength = 100  // characters
	maxURLLength  = 2048 // bytes
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

// subscribed reports whether the channel receives events of type t.
func (ch Channel) subscribed(t EventType) bool {
	return len(ch.Events) == 0 || slices.Contains(ch.Events, t)
}

// UsesBot reports whether deliveries to the channel go through the Slack
// Web API with a bot token (which allows interactive buttons and later
// edits) rather than an incoming webhook: a Slack channel with a bot
// token and a channel ID, whether or not it also has a webhook URL.
func (ch Channel) UsesBot() bool {
	return ch.Type == Slack && ch.Config.BotToken != "" && ch.Config.ChannelID != ""
}

// validationError is the error of [Channel.Validate]: a channel a client
// must fix. Message is meant for the client: it is the spec's wording
// where the spec has one, and it never contains a secret. The settings
// API answers it with 400.
type validationError struct {
	Field   string // JSON name of the offending field, if any
	Message string
	cause   error // errLoopbackRefused, for a loopback URL refused by the setting
}

func (e *validationError) Error() string { return e.Message }

func (e *validationError) Unwrap() error { return e.cause }

func invalid(field, format string, args ...any) error {
	return &validationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

var (
	slackBotToken       = regexp.MustCompile(`^xoxb-[A-Za-z0-9-]+$`)
	slackConversationID = regexp.MustCompile(`^[CGD][A-Z0-9]{8,20}$`)
)

// Validate checks ch as the settings API does before storing it, with the
// strict production URL policy (a [PlatformSender] made with
// SenderOptions.AllowLoopbackURLs also admits loopback webhook URLs, and
// the settings API validates with its sender's policy), and returns it
// normalised: surrounding spaces trimmed from the name and config values,
// duplicate events removed, and an empty event list replaced by all
// event types. The error of an invalid channel is a sentence for the
// admin, such as "channel_type must be 'slack' or 'teams'" or "Slack
// channels require either bot_token + channel_id or webhook_url".
func (ch Channel) Validate() (Channel, error) {
	return validate(ch, false)
}

// validate is [Channel.Validate] under a URL policy: allowLoopback also
// admits http and https webhook URLs on a loopback address.
func validate(ch Channel, allowLoopback bool) (Channel, error) {
	if ch.Type != Slack && ch.Type != Teams {
		return ch, invalid("channel_type", "channel_type must be 'slack' or 'teams'")
	}
	if err := checkName(ch.Name); err != nil {
		return ch, err
	}
	ch.Name = strings.TrimSpace(ch.Name)
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
			if err := checkWebhookURL(Slack, c.WebhookURL, allowLoopback); err != nil {
				return ch, urlInvalid(err, "webhook_url must be an https URL on hooks.slack.com")
			}
		}
	case Teams:
		if c.BotToken != "" || c.ChannelID != "" {
			return ch, invalid("config", "bot_token and channel_id apply to Slack channels only")
		}
		if c.WebhookURL == "" {
			return ch, invalid("config.webhook_url", "A webhook_url is required for Teams channels")
		}
		if err := checkWebhookURL(Teams, c.WebhookURL, allowLoopback); err != nil {
			return ch, urlInvalid(err, "webhook_url must be an https Teams webhook or Workflows URL (outlook.office.com, outlook.office365.com, *.webhook.office.com, *.logic.azure.com or *.api.powerplatform.com)")
		}
	}
	return ch, nil
}

// urlInvalid is the validation error of a refused webhook URL: msg, or
// the real cause when the URL was refused for being on a loopback
// address.
func urlInvalid(err error, msg string) error {
	if errors.Is(err, errLoopbackRefused) {
		return &validationError{Field: "config.webhook_url", Message: "webhook_url is on a loopback address: " + loopbackHint, cause: errLoopbackRefused}
	}
	return invalid("config.webhook_url", "%s", msg)
}

// checkName checks a channel name as given, before anything trims or
// replaces any of it: valid UTF-8 first (and no U+FFFD, which is what
// encoding/json turns invalid UTF-8 in a request body into), then its
// length, then printable text without the invisible and bidirectional
// control characters that make a name read differently from what it is.
func checkName(raw string) error {
	if !utf8.ValidString(raw) {
		return invalid("name", "name must be valid UTF-8")
	}
	name := strings.TrimSpace(raw)
	switch {
	case name == "":
		return invalid("name", "name is required")
	case utf8.RuneCountInString(name) > maxNameLength:
		return invalid("name", "name must be at most %d characters", maxNameLength)
	case strings.ContainsRune(name, utf8.RuneError):
		return invalid("name", "name must be valid UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return invalid("name", "name must be printable text")
	}
	if i := strings.IndexFunc(name, isInvisible); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return invalid("name", "name must not contain invisible or bidirectional control characters (U+%04X)", r)
	}
	return nil
}

// isInvisible reports whether r may not be in a channel name: what
// chattext drops from every text shown in a message (bidirectional
// embeddings, overrides and isolates, U+202A–U+202E and U+2066–U+2069;
// the zero-width space U+200B, word joiner U+2060 and byte order mark
// U+FEFF), and, since a name is an identifier admins pick a channel by,
// the zero-width non-joiner and joiner (U+200C, U+200D) and the
// bidirectional marks (U+200E, U+200F, U+061C) too.
func isInvisible(r rune) bool {
	return chattext.Invisible(r) || r >= 0x200C && r <= 0x200F || r == 0x061C
}

// loopbackHint is the cause named whenever a loopback URL is refused.
const loopbackHint = "loopback URLs are refused unless SenderOptions.AllowLoopbackURLs is set"

// errLoopbackRefused is returned by checkWebhookURL for a URL on a
// loopback address when allowLoopback is false.
var errLoopbackRefused = errors.New("notify: " + loopbackHint)

// checkWebhookURL reports whether raw is an acceptable webhook URL for a
// channel of type t, by the rules of [Channel.Validate]. Senders call it
// again before every request, so that a URL that reached a store by
// another path is never requested.
func checkWebhookURL(t ChannelType, raw string, allowLoopback bool) error {
	hosts := slackWebhookHosts
	if t == Teams {
		hosts = teamsWebhookHosts
	}
	return checkURL(raw, hosts, allowLoopback)
}

// checkURL checks raw against hosts with the loopback policy, naming a
// loopback URL refused by the policy with errLoopbackRefused.
func checkURL(raw string, hosts []string, allowLoopback bool) error {
	if len(raw) > maxURLLength {
		return webhookurl.ErrMalformed
	}
	err := webhookurl.Check(raw, hosts, allowLoopback)
	if err != nil && !allowLoopback && webhookurl.Check(raw, hosts, true) == nil {
		return errLoopbackRefused
	}
	return err
}

func normalizeEvents(in []EventType) ([]EventType, error) {
	if len(in) == 0 {
		return eventTypes(), nil
	}
	out := make([]EventType, 0, len(in))
	for _, e := range in {
		if !slices.Contains(eventTypes(), e) {
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
