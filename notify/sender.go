package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// transport is what the [Dispatcher] and the settings API deliver
// through: one method per kind of job. [PlatformSender] is the one
// implementation; behind it, each platform's sender and renderer (Slack
// in slack*.go, Teams in teams*.go) are one file set, so another
// platform would be one more. Tests substitute their own transports
// (export_test.go). Every method honours ctx and returns a
// *[DeliveryError] on failure.
type transport interface {
	// Send posts ev to ch.
	Send(ctx context.Context, ch Channel, ev Event) (Receipt, error)
	// showDecision brings the copy p of a request, posted to ch, up to
	// date with the decided request r: a chat.update of a Slack bot
	// message, the PUT of a Teams bot card, a follow-up card on a Teams
	// webhook.
	showDecision(ctx context.Context, ch Channel, p Post, r approval.Request) error
	// respond posts m to a Slack response_url.
	respond(ctx context.Context, responseURL string, m slackResponse) error
	// allowLoopback is the URL policy of SenderOptions.AllowLoopbackURLs.
	allowLoopback() bool
}

// Receipt says where a delivered message landed, as far as the platform
// tells. Slack's Web API returns the conversation and timestamp of the
// message, which are what later edits (chat.update) need, and the Teams
// Bot Connector the activity ID of the card; webhooks return nothing.
type Receipt struct {
	SlackChannel string `json:"slack_channel,omitempty"`
	SlackTS      string `json:"slack_ts,omitempty"`
	// TeamsActivityID is the ID of a card posted through the Teams Bot
	// Connector, which is what replacing it later (PUT) needs.
	TeamsActivityID string `json:"teams_activity_id,omitempty"`
}

// DeliveryError is a classified delivery failure, returned by
// [PlatformSender.Send] and held by a failed [Result]. Its fields never
// hold a secret: no token, no webhook URL or response_url, no upstream
// body beyond a platform error code.
type DeliveryError struct {
	// Reason is an actionable, human sentence for admins, such as "the
	// bot is not in the channel: invite it or add the chat:write.public
	// scope".
	Reason string
	// Code is the platform's error code ("channel_not_found",
	// "no_service") or, for HTTP failures without one, "http_<status>".
	Code string
	// StatusCode is the HTTP status of the platform's answer, if any.
	StatusCode int
	// Permanent errors are not worth retrying: the configuration must
	// change first.
	Permanent bool
	// RetryAfter is the platform's requested wait before a retry (HTTP 429
	// Retry-After), if any.
	RetryAfter time.Duration
}

// Error returns "notify: delivery failed (<code>): <reason>".
func (e *DeliveryError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("notify: delivery failed (%s): %s", e.Code, e.Reason)
	}
	return "notify: delivery failed: " + e.Reason
}
