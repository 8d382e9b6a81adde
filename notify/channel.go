package notify

import (
	"errors"
	"fmt"
	"net/url"
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
// webhook) or a Teams channel (incoming webhook or Workflows URL, or a
// conversation reached through the host's bot).
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
//
// A Teams channel has either a WebhookURL or a conversation reference
// (ServiceURL, ConversationID and TenantID, all three), never both. The
// reference names a conversation the host's bot was added to (the
// settings API lists those it has seen); deliveries then go through the
// Bot Connector with the bot credentials of [SenderOptions], which are
// never part of a channel. The reference holds no secret.
type ChannelConfig struct {
	BotToken   string `json:"bot_token,omitempty"`
	ChannelID  string `json:"channel_id,omitempty"`
	WebhookURL string `json:"webhook_url,omitempty"`
	// ServiceURL is the Bot Framework service URL of the conversation,
	// as Teams gives it to the bot, such as
	// "https://smba.trafficmanager.net/amer/".
	ServiceURL string `json:"service_url,omitempty"`
	// ConversationID is the Teams conversation the bot posts to, such as
	// "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2".
	ConversationID string `json:"conversation_id,omitempty"`
	// TenantID is the Microsoft Entra tenant (a GUID) of the
	// conversation.
	TenantID string `json:"tenant_id,omitempty"`
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

// usesTeamsBot reports whether deliveries to the channel go through the
// host's Teams bot (the Bot Connector) rather than a webhook: a Teams
// channel with a service URL and a conversation ID. Validation makes sure
// such a channel has no webhook URL.
func (ch Channel) usesTeamsBot() bool {
	return ch.Type == Teams && ch.Config.ServiceURL != "" && ch.Config.ConversationID != ""
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
	// teamsConversationID is a Bot Framework conversation ID: a short
	// prefix ("19" for channels and group chats, "a" or "8" for personal
	// chats), a colon, and printable ASCII without spaces, such as
	// "19:0b7f…@thread.tacv2" or, for a reply thread,
	// "19:…@thread.tacv2;messageid=1498171086622".
	teamsConversationID = regexp.MustCompile(`^[0-9A-Za-z]{1,8}:[!-~]{1,500}$`)
	// entraTenantID is a Microsoft Entra tenant ID: a GUID.
	entraTenantID = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)
)

// Validation texts of Teams channels, also used by the settings API's
// documentation and tests.
const (
	msgTeamsConfig     = "Teams channels require either webhook_url or service_url + conversation_id + tenant_id"
	msgTeamsBoth       = "Teams channels take either webhook_url or service_url + conversation_id + tenant_id, not both"
	msgTeamsReference  = "service_url, conversation_id and tenant_id must be given together"
	msgTeamsServiceURL = "service_url must be an https Bot Framework service URL (smba.trafficmanager.net, smba.infra.gcc.teams.microsoft.com, smba.infra.gov.teams.microsoft.us or smba.infra.dod.teams.microsoft.us)"
	msgTeamsConvID     = "conversation_id must be a Teams conversation ID such as 19:…@thread.tacv2"
	msgTeamsTenantID   = "tenant_id must be a Microsoft Entra tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000)"
)

// Validate checks ch as the settings API does before storing it, with the
// strict production URL policy (a [PlatformSender] made with
// SenderOptions.AllowLoopbackURLs also admits loopback webhook URLs, and
// the settings API validates with its sender's policy), and returns it
// normalised: surrounding spaces trimmed from the name and config values,
// duplicate events removed, and an empty event list replaced by all
// event types. The error of an invalid channel is a sentence for the
// admin, such as "channel_type must be 'slack' or 'teams'", "Slack
// channels require either bot_token + channel_id or webhook_url" or
// "Teams channels require either webhook_url or service_url +
// conversation_id + tenant_id".
func (ch Channel) Validate() (Channel, error) {
	return validate(ch, false)
}

// validate is [Channel.Validate] under a URL policy: allowLoopback also
// admits http and https webhook and service URLs on a loopback address.
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
	c.ServiceURL = strings.TrimSpace(c.ServiceURL)
	c.ConversationID = strings.TrimSpace(c.ConversationID)
	c.TenantID = strings.TrimSpace(c.TenantID)
	hasRef := c.ServiceURL != "" || c.ConversationID != "" || c.TenantID != ""
	switch ch.Type {
	case Slack:
		if hasRef {
			return ch, invalid("config", "service_url, conversation_id and tenant_id apply to Teams channels only")
		}
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
		switch {
		case c.WebhookURL == "" && !hasRef:
			return ch, invalid("config", msgTeamsConfig)
		case c.WebhookURL != "" && hasRef:
			return ch, invalid("config", msgTeamsBoth)
		case hasRef:
			return ch, validateTeamsReference(*c, allowLoopback)
		}
		if err := checkWebhookURL(Teams, c.WebhookURL, allowLoopback); err != nil {
			return ch, urlInvalid(err, "webhook_url must be an https Teams webhook or Workflows URL (outlook.office.com, outlook.office365.com, *.webhook.office.com, *.logic.azure.com or *.api.powerplatform.com)")
		}
	}
	return ch, nil
}

// validateTeamsReference checks the conversation reference of a Teams
// channel reached through the host's bot.
func validateTeamsReference(c ChannelConfig, allowLoopback bool) error {
	switch {
	case c.ServiceURL == "" || c.ConversationID == "" || c.TenantID == "":
		return invalid("config", msgTeamsReference)
	}
	if _, err := checkServiceURL(c.ServiceURL, allowLoopback); err != nil {
		if errors.Is(err, errLoopbackRefused) {
			return &validationError{Field: "config.service_url", Message: "service_url is on a loopback address: " + loopbackHint, cause: errLoopbackRefused}
		}
		return invalid("config.service_url", msgTeamsServiceURL)
	}
	switch {
	case !teamsConversationID.MatchString(c.ConversationID):
		return invalid("config.conversation_id", msgTeamsConvID)
	case !entraTenantID.MatchString(c.TenantID):
		return invalid("config.tenant_id", msgTeamsTenantID)
	}
	return nil
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

// teamsBotHosts is the allow-list of Bot Framework service URLs, the
// serviceUrl of the conversations Teams gives a bot: commercial Teams
// (smba.trafficmanager.net, with a region path such as /amer/ or
// /emea/) and the GCC, GCC High and DoD clouds: the four hosts of
// Microsoft's TeamsServiceEndpoints (Microsoft 365 Agents SDK,
// @microsoft/agents-hosting: publicGlobal, gcc, gccHigh, dod). Exact
// hosts only: no wildcard.
var teamsBotHosts = []string{
	"smba.trafficmanager.net",
	"smba.infra.gcc.teams.microsoft.com",
	"smba.infra.gov.teams.microsoft.us",
	"smba.infra.dod.teams.microsoft.us",
}

// checkServiceURL checks a conversation's service URL by the rules of
// [Channel.Validate] (https, no user information, port 443 if any, a
// host of teamsBotHosts, or a loopback address with allowLoopback; no
// query or fragment) and returns it parsed. Senders call it again before
// every request and build the request URL from what it returns.
func checkServiceURL(raw string, allowLoopback bool) (*url.URL, error) {
	if err := checkURL(raw, teamsBotHosts, allowLoopback); err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, webhookurl.ErrMalformed
	}
	return u, nil
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
