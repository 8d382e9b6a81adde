package notify

import (
	"context"
	"fmt"
	"time"
)

// Sender delivers one event to one channel. Implementations must be safe
// for concurrent use and must honour ctx. On failure they should return a
// *[DeliveryError], whose Reason is shown to admins as is; other errors
// are shown as a generic failure and only logged.
type Sender interface {
	Send(ctx context.Context, ch Channel, ev Event) (Receipt, error)
}

// SenderFunc adapts a function to a [Sender].
type SenderFunc func(ctx context.Context, ch Channel, ev Event) (Receipt, error)

// Send calls f(ctx, ch, ev).
func (f SenderFunc) Send(ctx context.Context, ch Channel, ev Event) (Receipt, error) {
	return f(ctx, ch, ev)
}

// Receipt says where a delivered message landed, as far as the platform
// tells. Slack's Web API returns the conversation and timestamp of the
// message, which are what later edits (chat.update) need; webhooks return
// nothing.
type Receipt struct {
	SlackChannel string `json:"slack_channel,omitempty"`
	SlackTS      string `json:"slack_ts,omitempty"`
}

// DeliveryError is a classified delivery failure. Its fields never hold a
// secret: no token, no webhook URL, no upstream body beyond a platform
// error code.
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

func (e *DeliveryError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("notify: delivery failed (%s): %s", e.Code, e.Reason)
	}
	return "notify: delivery failed: " + e.Reason
}
