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

	"github.com/chatnotify/chatnotify/teams"
)

// MessageUpdater is implemented by senders that can rewrite a message
// they posted earlier, identified by its [Receipt]. [PlatformSender]
// implements it for Slack channels with a bot token (chat.update); the
// dispatcher uses it to show a decision on every copy of a request.
type MessageUpdater interface {
	// Update replaces the message rc in ch with ev rendered. It returns a
	// *DeliveryError like [Sender.Send].
	Update(ctx context.Context, ch Channel, rc Receipt, ev Event) error
}

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
	// Defaults to DefaultSlackAPIURL.
	SlackAPIURL string
	// AllowLoopbackURLs also accepts webhook URLs on a loopback address
	// (http or https), as [ValidateOptions.AllowLoopbackURLs] does. For
	// tests and local sandboxes only. Defaults to false.
	AllowLoopbackURLs bool
	// PublicURL is the host's public base URL (such as
	// "https://arx.example.com"), under which it mounts the Teams
	// interaction handler at /v1/webhooks/teams/interactions. Together
	// with Signer it puts Approve and Deny links on Teams cards. Defaults
	// to "": the cards then say to decide in the console.
	PublicURL string
	// Signer signs the action tokens of the Teams Approve and Deny links.
	// Defaults to nil (no links).
	Signer *teams.Signer
	// TokenTTL bounds the life of a Teams action token for a request
	// without a deadline; a request with one gets tokens that expire with
	// it. Defaults to 7 days.
	TokenTTL time.Duration
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

// PlatformSender is the built-in [Sender]: it renders each event for the
// channel's platform and sends it through the right transport, choosing
// by the channel's configuration:
//
//   - Slack with bot token and channel ID: chat.postMessage through the
//     Web API (preferred when a webhook URL is also set). Approval
//     requests carry Approve and Deny buttons.
//   - Slack with only a webhook URL: the incoming webhook. No interactive
//     buttons (incoming webhooks cannot receive clicks), only a console
//     link.
//   - Teams: the incoming webhook or Workflows URL, with an Adaptive Card.
//
// Webhook URLs are checked with [CheckWebhookURL] before every request.
// Failures are returned as *[DeliveryError] with an actionable reason and
// never contain a token or webhook URL. It also implements
// [MessageUpdater]. A PlatformSender is safe for concurrent use.
type PlatformSender struct {
	client    *http.Client
	teams     *goteamsnotify.TeamsClient
	slackAPI  string
	validate  *ValidateOptions
	publicURL string
	signer    *teams.Signer
	tokenTTL  time.Duration
	console   func(Event) string
	userAgent string
	now       func() time.Time
	log       *slog.Logger
}

var (
	_ Sender         = (*PlatformSender)(nil)
	_ MessageUpdater = (*PlatformSender)(nil)
)

// NewSender returns a PlatformSender. opts may be nil. It returns an
// error when SlackAPIURL or PublicURL is not an absolute http(s) URL.
func NewSender(opts *SenderOptions) (*PlatformSender, error) {
	var o SenderOptions
	if opts != nil {
		o = *opts
	}
	s := &PlatformSender{
		client:    outboundClient(o.HTTPClient),
		slackAPI:  o.SlackAPIURL,
		validate:  &ValidateOptions{AllowLoopbackURLs: o.AllowLoopbackURLs},
		signer:    o.Signer,
		tokenTTL:  o.TokenTTL,
		console:   o.ConsoleURL,
		userAgent: o.UserAgent,
		now:       o.Now,
		log:       o.Logger,
	}
	if s.slackAPI == "" {
		s.slackAPI = DefaultSlackAPIURL
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
	if s.tokenTTL <= 0 {
		s.tokenTTL = 7 * 24 * time.Hour
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
	Reason:    "the channel has neither a bot token with channel ID nor a webhook URL: update its configuration",
	Code:      "not_configured",
	Permanent: true,
}

// Send implements [Sender].
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
	case ch.Type == Teams && ch.Config.WebhookURL != "":
		via = "teams_webhook"
		rc, err = s.teamsSend(ctx, ch, ev)
	default:
		err = errNotConfigured
	}
	s.logRequest(ctx, "send", ch, ev, via, start, err)
	return rc, err
}

// Update implements [MessageUpdater] for Slack channels with a bot token:
// it rewrites the message rc with chat.update (an [ApprovalDecided]
// becomes the result, without buttons). Any other channel, or a receipt
// without a message timestamp, returns a permanent *DeliveryError with
// Code "not_editable": webhook messages cannot be edited.
func (s *PlatformSender) Update(ctx context.Context, ch Channel, rc Receipt, ev Event) error {
	if ev == nil {
		return &DeliveryError{Reason: "nothing to send", Code: "no_event", Permanent: true}
	}
	if ch.Type != Slack || !ch.UsesBot() || rc.SlackTS == "" {
		return &DeliveryError{Reason: "the message was not posted with a bot token, so it cannot be edited", Code: "not_editable", Permanent: true}
	}
	start := s.now()
	err := s.slackBotUpdate(ctx, ch, rc, renderSlack(ev, slackRender{interactive: true, console: s.consoleLink(ev)}))
	s.logRequest(ctx, "update", ch, ev, "slack_bot", start, err)
	return err
}

// consoleLink returns the checked console link for ev, or "".
func (s *PlatformSender) consoleLink(ev Event) string {
	u := eventConsoleURL(deref(ev))
	if u == "" && s.console != nil {
		u = s.console(ev)
	}
	return safeLink(u)
}

func (s *PlatformSender) logRequest(ctx context.Context, op string, ch Channel, ev Event, via string, start time.Time, err error) {
	attrs := []slog.Attr{
		slog.String("op", op),
		slog.String("channel_id", ch.ID),
		slog.String("channel_type", string(ch.Type)),
		slog.String("via", via),
		slog.String("event", string(ev.EventType())),
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
