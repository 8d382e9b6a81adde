package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	goteamsnotify "github.com/atc0005/go-teams-notify/v2"

	"github.com/chatnotify/chatnotify/approval"
)

// SenderOptions configures a [PlatformSender]. The zero value is usable:
// it talks to the real Slack and Teams, and Teams cards carry only a
// console link instead of Approve / Deny links.
type SenderOptions struct {
	// HTTPClient makes every request. It is copied, never modified: the
	// copy refuses redirects and bounds the answers it reads. Defaults to
	// a client with a 30 s timeout. When its Transport is nil, a copy of
	// http.DefaultTransport keeping 64 idle connections per host is used,
	// so that fanning out to many channels reuses connections.
	HTTPClient *http.Client
	// SlackAPIURL is the Slack Web API base URL, for tests and proxies.
	// Defaults to "https://slack.com/api/".
	SlackAPIURL string
	// AllowLoopbackURLs also accepts webhook URLs, Slack response_urls,
	// Teams service URLs and TeamsTokenURL on a loopback address
	// ("localhost", 127.0.0.0/8, ::1; http or https), for tests and
	// local sandboxes only. It is the library's
	// one loopback setting: the settings API given this sender validates
	// channels with it too, and every refusal of a loopback URL says it
	// is off. Defaults to false; never set it in production.
	AllowLoopbackURLs bool
	// PublicURL is the host's public base URL (such as
	// "https://chat.example.com", or with the prefix the handlers are
	// mounted under), under which it mounts the Teams interaction handler
	// at approval.TeamsInteractionsPath. Together with Signer it puts
	// Approve and Deny links on Teams cards. Defaults to "": the cards
	// then say to decide in the console.
	PublicURL string
	// Signer signs the action tokens of the Teams Approve and Deny links:
	// the host's approval.Signer, the one its Teams handler verifies
	// with. A token names the request's organisation and expires with
	// the request (never, for a request without a deadline). Defaults to
	// nil (no links).
	Signer *approval.Signer
	// TeamsAppID, TeamsAppSecret and TeamsAppTenant are the host's Teams
	// bot, from its Azure Bot registration: the Microsoft App ID, a
	// client secret of that app, and the Microsoft Entra tenant (ID or
	// domain) it is registered in. With them, Teams channels configured
	// with a conversation reference (ChannelConfig.ServiceURL,
	// ConversationID, TenantID) are delivered through the Bot Connector,
	// with real Approve and Deny buttons. They are the server's, never
	// part of a channel; the secret is never logged, returned or shown.
	// TeamsAppID and TeamsAppSecret go together, with TeamsAppTenant or
	// TeamsTokenURL. Default to "": no bot, and bot channels fail with a
	// permanent "no Teams bot configured" reason.
	TeamsAppID     string
	TeamsAppSecret string
	TeamsAppTenant string
	// TeamsTokenURL is the Microsoft Entra token endpoint the bot's
	// tokens are requested from (client credentials, scope
	// https://api.botframework.com/.default), for tests and sovereign
	// clouds. It must be https, or on a loopback address with
	// AllowLoopbackURLs. Defaults to
	// "https://login.microsoftonline.com/{TeamsAppTenant}/oauth2/v2.0/token".
	TeamsTokenURL string
	// ConsoleURL returns a console link for an event that carries none
	// (its ConsoleURL field is empty), or "". Defaults to nil.
	ConsoleURL func(ev Event) string
	// UserAgent is sent with every request. Defaults to "chatnotify".
	UserAgent string
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Logger receives one debug line per request. Defaults to a logger
	// that discards everything. Secrets are never logged.
	Logger *slog.Logger
}

// PlatformSender delivers to Slack and Teams, for the [Dispatcher] and
// the settings API (hosts make one and give it to both). It renders each
// event for the channel's platform and sends it through the right
// transport, choosing by the channel's configuration:
//
//   - Slack with bot token and channel ID: chat.postMessage through the
//     Web API (preferred when a webhook URL is also set). Approval
//     requests carry Approve and Deny buttons.
//   - Slack with only a webhook URL: the incoming webhook. No interactive
//     buttons (incoming webhooks cannot receive clicks), only a console
//     link.
//   - Teams with a webhook URL: the incoming webhook or Workflows URL,
//     with an Adaptive Card whose Approve and Deny are signed links.
//   - Teams with a conversation reference: the Bot Connector, as the
//     host's bot (SenderOptions.TeamsAppID), with an Adaptive Card 1.5
//     whose Approve and Deny are Action.Execute buttons. The Receipt
//     holds the activity ID, so that the card can be replaced later.
//
// The same sender also makes the Dispatcher's other jobs: it rewrites
// Slack bot copies of a decided request with chat.update, replaces the
// card of a Teams bot copy with the result (PUT of the activity), sends
// Teams webhook channels a follow-up result card, and answers Slack
// clicks through their response_url (https://hooks.slack.com/ only).
//
// The bot's token comes from Microsoft Entra by client credentials; one
// token serves every send of the sender until 5 minutes before it
// expires, so concurrent sends make one token request. Service URLs are
// checked against the Bot Framework hosts before every request, as
// webhook URLs are.
//
// Webhook URLs and response_urls are checked before every request, and
// redirects are never followed. Failures are returned as *[DeliveryError]
// with an actionable reason and never contain a token, a webhook URL or
// a response_url. A PlatformSender is safe for concurrent use.
type PlatformSender struct {
	client    *http.Client
	teams     *goteamsnotify.TeamsClient
	slackAPI  string
	loopback  bool
	publicURL string
	signer    *approval.Signer
	console   func(Event) string
	bot       *teamsBot // nil without SenderOptions.TeamsAppID
	userAgent string
	now       func() time.Time
	log       *slog.Logger
}

var _ transport = (*PlatformSender)(nil)

// defaultSlackAPIURL is the Slack Web API base URL.
const defaultSlackAPIURL = "https://slack.com/api/"

// NewSender returns a PlatformSender. opts may be nil. It returns an
// error when SlackAPIURL or PublicURL is not an absolute http(s) URL, or
// the Teams bot options are incomplete or TeamsTokenURL is not allowed.
func NewSender(opts *SenderOptions) (*PlatformSender, error) {
	var o SenderOptions
	if opts != nil {
		o = *opts
	}
	s := &PlatformSender{
		client:    outboundClient(o.HTTPClient),
		slackAPI:  o.SlackAPIURL,
		loopback:  o.AllowLoopbackURLs,
		signer:    o.Signer,
		console:   o.ConsoleURL,
		userAgent: o.UserAgent,
		now:       o.Now,
		log:       o.Logger,
	}
	if s.slackAPI == "" {
		s.slackAPI = defaultSlackAPIURL
	}
	if err := checkBaseURL(s.slackAPI); err != nil {
		return nil, fmt.Errorf("notify: SlackAPIURL: %w", err)
	}
	if !strings.HasSuffix(s.slackAPI, "/") {
		s.slackAPI += "/"
	}
	if o.PublicURL != "" {
		if err := checkBaseURL(o.PublicURL); err != nil {
			return nil, fmt.Errorf("notify: PublicURL: %w", err)
		}
		s.publicURL = strings.TrimRight(o.PublicURL, "/")
	}
	if s.userAgent == "" {
		s.userAgent = "chatnotify"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.teams = newTeamsClient(s.client, s.userAgent)
	bot, err := newTeamsBot(&o, s.client)
	if err != nil {
		return nil, err
	}
	s.bot = bot
	return s, nil
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return errors.New("must be an absolute http(s) URL without credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// errNotConfigured is returned for a channel that names no destination.
var errNotConfigured = &DeliveryError{
	Reason:    "the channel has no destination (a bot token with channel ID, a webhook URL or a Teams conversation): update its configuration",
	Code:      "not_configured",
	Permanent: true,
}

// Send posts ev to ch, rendered for the channel's platform, and returns
// where it landed. It makes one attempt: retries, rate limits and the
// recording of copies are the [Dispatcher]'s. Hosts call it for a
// synchronous one-off, such as checking a channel with a [TestMessage];
// the error is a *[DeliveryError].
func (s *PlatformSender) Send(ctx context.Context, ch Channel, ev Event) (Receipt, error) {
	if ev == nil {
		return Receipt{}, &DeliveryError{Reason: "nothing to send", Code: "no_event", Permanent: true}
	}
	start := s.now()
	var rc Receipt
	var err error
	via := ""
	switch {
	case ch.Type == Slack && ch.UsesBot():
		via = "slack_bot"
		rc, err = s.slackBotSend(ctx, ch, renderSlack(ev, slackRender{interactive: true, console: s.consoleLink(ev)}))
	case ch.Type == Slack && ch.Config.WebhookURL != "":
		via = "slack_webhook"
		rc, err = s.slackWebhookSend(ctx, ch, renderSlack(ev, slackRender{console: s.consoleLink(ev)}))
	case ch.usesTeamsBot():
		via = "teams_bot"
		var body []byte
		if body, err = renderTeamsBot(ev, teamsRender{console: s.consoleLink(ev)}, ch.Config.TenantID); err != nil {
			err = errTeamsTooLarge
		} else {
			rc.TeamsActivityID, err = s.teamsBotSend(ctx, ch, "", body)
		}
	case ch.Type == Teams && ch.Config.WebhookURL != "":
		via = "teams_webhook"
		var body []byte
		if body, err = renderTeams(ev, s.teamsOptions(ch, ev)); err != nil {
			err = errTeamsTooLarge
		} else {
			err = s.teamsSend(ctx, ch, body)
		}
	default:
		err = errNotConfigured
	}
	s.logRequest(ctx, "post", ch, ev.eventType(), via, start, err)
	return rc, err
}

// showDecision implements [transport]: a Slack message posted with a bot
// token is rewritten with chat.update to the request's result, without
// buttons; the card of a Teams bot copy is replaced in place with the
// result card (PUT of its activity); a Teams webhook channel gets a
// follow-up result card, since cards sent through webhooks cannot be
// edited (and so does a bot channel for a copy whose activity ID the
// Bot Connector did not give). Any other copy (a Slack webhook message,
// or a channel whose bot token has since been removed) returns a
// permanent *DeliveryError with Code "not_editable".
func (s *PlatformSender) showDecision(ctx context.Context, ch Channel, p Post, r approval.Request) error {
	start := s.now()
	var err error
	via := ""
	switch {
	case ch.Type == Slack && ch.UsesBot() && p.Receipt.SlackTS != "":
		via = "slack_bot"
		err = s.slackBotUpdate(ctx, ch, p.Receipt, slackReplacement(r))
	case ch.usesTeamsBot():
		via = "teams_bot"
		var body []byte
		if body, err = teamsBotDecided(r, ch.Config.TenantID); err != nil {
			err = errTeamsTooLarge
		} else {
			_, err = s.teamsBotSend(ctx, ch, p.Receipt.TeamsActivityID, body)
		}
	case ch.Type == Teams && ch.Config.WebhookURL != "":
		via = "teams_webhook"
		var body []byte
		if body, err = teamsFollowUp(r); err != nil {
			err = errTeamsTooLarge
		} else {
			err = s.teamsSend(ctx, ch, body)
		}
	default:
		err = &DeliveryError{Reason: "the message was not posted with a bot token, so it cannot be edited", Code: "not_editable", Permanent: true}
	}
	s.logRequest(ctx, "show_decision", ch, EventApprovalRequest, via, start, err)
	return err
}

// allowLoopback implements [transport].
func (s *PlatformSender) allowLoopback() bool { return s.loopback }

// consoleLink returns the checked console link for ev, or "".
func (s *PlatformSender) consoleLink(ev Event) string {
	u := eventConsoleURL(deref(ev))
	if u == "" && s.console != nil {
		u = s.console(ev)
	}
	return safeLink(u)
}

func (s *PlatformSender) logRequest(ctx context.Context, op string, ch Channel, ev EventType, via string, start time.Time, err error) {
	attrs := []slog.Attr{
		slog.String("op", op),
		slog.String("channel_id", ch.ID),
		slog.String("channel_type", string(ch.Type)),
		slog.String("via", via),
		slog.String("event", string(ev)),
		slog.Duration("took", s.now().Sub(start)),
	}
	if err != nil {
		var de *DeliveryError
		if errors.As(err, &de) {
			attrs = append(attrs, slog.String("code", de.Code), slog.String("reason", de.Reason))
		}
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "notify: platform request", attrs...)
}
