package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// slackBotErrors maps Slack Web API error codes to what an admin should
// do. Codes not listed are treated as permanent with a generic reason;
// slackTransient lists those worth retrying.
var slackBotErrors = map[string]string{
	"not_in_channel":          "the bot is not in the channel: invite it or add the chat:write.public scope",
	"channel_not_found":       "the Slack channel was not found: check the channel ID, and invite the bot if the channel is private",
	"is_archived":             "the Slack channel is archived: unarchive it or choose another channel",
	"invalid_auth":            "the Slack bot token is invalid: copy the Bot User OAuth Token (xoxb-…) again and update the channel",
	"not_authed":              "no Slack bot token was accepted: copy the Bot User OAuth Token (xoxb-…) again and update the channel",
	"token_revoked":           "the Slack token was revoked: reinstall the app and update the bot token",
	"token_expired":           "the Slack token has expired: reinstall the app (or turn off token rotation) and update the bot token",
	"account_inactive":        "the Slack app was uninstalled or its account deactivated: reinstall the app and update the bot token",
	"missing_scope":           "the Slack app lacks the chat:write scope: add it under OAuth & Permissions and reinstall the app",
	"restricted_action":       "the workspace does not let the app post in this channel: ask a Slack admin to allow it",
	"team_access_not_granted": "the token has no access to the channel's workspace: install the app in that workspace",
	"ekm_access_denied":       "the workspace's Enterprise Key Management denied access: ask a Slack admin",
	"team_disabled":           "the Slack workspace has been disabled",
	"message_not_found":       "the Slack message to update no longer exists",
	"cant_update_message":     "the Slack message cannot be updated by this bot token",
	"edit_window_closed":      "the Slack message can no longer be edited",
	"msg_too_long":            "Slack rejected the message as too long: please report this bug in chatnotify",
	"no_text":                 "Slack rejected the message as empty: please report this bug in chatnotify",
	"invalid_blocks":          "Slack rejected the message's blocks: please report this bug in chatnotify",
	"invalid_blocks_format":   "Slack rejected the message's blocks: please report this bug in chatnotify",
	"ratelimited":             "Slack is rate limiting this channel",
	"fatal_error":             "Slack had a server error: it will be retried",
	"internal_error":          "Slack had a server error: it will be retried",
	"service_unavailable":     "Slack is unavailable: it will be retried",
	"request_timeout":         "Slack timed out: it will be retried",
}

var slackTransient = map[string]bool{
	"ratelimited":         true,
	"rate_limited":        true,
	"fatal_error":         true,
	"internal_error":      true,
	"service_unavailable": true,
	"request_timeout":     true,
}

// slackAPIError classifies an error returned by slack-go.
func slackAPIError(err error) *DeliveryError {
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	var se slack.SlackErrorResponse
	switch {
	case errors.As(err, &rl):
		return rateLimited("Slack", rl.RetryAfter)
	case errors.As(err, &sc):
		return httpStatusError("Slack", sc.Code, 0)
	case errors.As(err, &se):
		return slackCodeError(se.Err, http.StatusOK, slackBotErrors)
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	if isContextOrNet(err) {
		return transportError("Slack", err)
	}
	// A malformed answer (not JSON, cut off at maxResponseBody).
	return &DeliveryError{Reason: "Slack sent an unreadable answer: it will be retried", Code: "bad_response"}
}

// isContextOrNet reports whether err came from the connection rather than
// from decoding an answer.
func isContextOrNet(err error) bool {
	var ue interface{ Timeout() bool }
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue)
}

// slackCodeError turns a Slack error code into a DeliveryError using
// reasons; unknown codes are permanent.
func slackCodeError(code string, status int, reasons map[string]string) *DeliveryError {
	if !isCode(code) {
		code = "unknown_error"
	}
	if code == "ratelimited" || code == "rate_limited" {
		return rateLimited("Slack", 0)
	}
	reason, ok := reasons[code]
	if !ok {
		reason = "Slack refused the message (" + code + ")"
	}
	return &DeliveryError{Reason: reason, Code: code, StatusCode: status, Permanent: !slackTransient[code]}
}

// slackBotSend posts m to the bot channel of ch with chat.postMessage.
func (s *PlatformSender) slackBotSend(ctx context.Context, ch Channel, m slackMessage) (Receipt, error) {
	api := s.slackClient(ch.Config.BotToken)
	channel, ts, err := api.PostMessageContext(ctx, ch.Config.ChannelID, slackOptions(m)...)
	if err != nil {
		return Receipt{}, slackAPIError(err)
	}
	return Receipt{SlackChannel: channel, SlackTS: ts}, nil
}

// slackBotUpdate rewrites the message rc of ch with chat.update.
func (s *PlatformSender) slackBotUpdate(ctx context.Context, ch Channel, rc Receipt, m slackMessage) error {
	channel := rc.SlackChannel
	if channel == "" {
		channel = ch.Config.ChannelID
	}
	api := s.slackClient(ch.Config.BotToken)
	// An empty block list clears the old blocks (and their buttons).
	opts := slackOptions(m)
	if len(m.Blocks) == 0 {
		opts = append(opts, slack.MsgOptionBlocks())
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, channel, rc.SlackTS, opts...); err != nil {
		return slackAPIError(err)
	}
	return nil
}

func (s *PlatformSender) slackClient(token string) *slack.Client {
	return slack.New(token, slack.OptionAPIURL(s.slackAPI), slack.OptionHTTPClient(s.client))
}

func slackOptions(m slackMessage) []slack.MsgOption {
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.Text, false),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
	if len(m.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(m.Blocks...))
	}
	return opts
}

// slackWebhookErrors maps incoming-webhook error bodies to what an admin
// should do. Classification is on the body, not the status, which varies
// (protocol.md §4).
var slackWebhookErrors = map[string]string{
	"no_service":                        "the webhook URL is no longer valid (no_service): create a new incoming webhook and update the channel",
	"no_service_id":                     "the webhook URL is not valid (no_service_id): copy the incoming webhook URL again",
	"no_active_hooks":                   "the incoming webhook was turned off (no_active_hooks): turn incoming webhooks on for the Slack app or create a new webhook",
	"invalid_token":                     "the webhook URL's token is not valid (invalid_token): create a new incoming webhook and update the channel",
	"no_team":                           "the webhook URL's workspace was not found (no_team): create a new incoming webhook",
	"team_disabled":                     "the Slack workspace of this webhook has been disabled",
	"channel_not_found":                 "the webhook's Slack channel no longer exists: create a new incoming webhook for another channel",
	"channel_is_archived":               "the webhook's Slack channel is archived: unarchive it or create a new incoming webhook",
	"action_prohibited":                 "a Slack admin has restricted posting to the webhook's channel: ask them to allow it or use another channel",
	"posting_to_general_channel_denied": "only admins may post to the workspace's general channel: create a webhook for another channel",
	"user_not_found":                    "the webhook's Slack user no longer exists: create a new incoming webhook",
	"invalid_payload":                   "Slack rejected the message (invalid_payload): please report this bug in chatnotify",
	"no_text":                           "Slack rejected the message as empty (no_text): please report this bug in chatnotify",
	"too_many_attachments":              "Slack rejected the message (too_many_attachments): please report this bug in chatnotify",
	"rollup_error":                      "Slack had a server error (rollup_error): it will be retried",
}

// slackWebhookMessage is the JSON body of an incoming webhook post.
type slackWebhookMessage struct {
	Text        string        `json:"text"`
	Blocks      []slack.Block `json:"blocks,omitempty"`
	UnfurlLinks bool          `json:"unfurl_links"`
	UnfurlMedia bool          `json:"unfurl_media"`
}

// slackWebhookSend posts m to ch's incoming webhook. slack-go's
// PostWebhook discards the error body, so this is a plain POST whose
// answer is classified on its body.
func (s *PlatformSender) slackWebhookSend(ctx context.Context, ch Channel, m slackMessage) (Receipt, error) {
	if err := checkWebhookURL(Slack, ch.Config.WebhookURL, s.loopback); err != nil {
		return Receipt{}, badWebhookURL("Slack", err)
	}
	status, text, retryAfter, err := s.postJSON(ctx, ch.Config.WebhookURL, slackWebhookMessage{Text: m.Text, Blocks: m.Blocks})
	if err != nil {
		return Receipt{}, err
	}
	if status == http.StatusOK && text == "ok" {
		return Receipt{}, nil
	}
	return Receipt{}, slackWebhookError(status, text, retryAfter)
}

// postJSON POSTs v as JSON to u, a checked webhook URL or response_url,
// and returns the answer's status, the start of its body (trimmed) and
// its Retry-After. The error, for a request that got no answer, is a
// *DeliveryError that never holds u.
func (s *PlatformSender) postJSON(ctx context.Context, u string, v any) (int, string, time.Duration, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return 0, "", 0, &DeliveryError{Reason: "the message could not be encoded: please report this bug in chatnotify", Code: "encode_error", Permanent: true}
	}
	var c capture
	req, err := http.NewRequestWithContext(withCapture(ctx, &c), http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, &DeliveryError{Reason: "the URL could not be requested", Code: "invalid_url", Permanent: true}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", s.userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", 0, transportError("Slack", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, strings.TrimSpace(string(readSnippet(resp.Body))), c.retryAfter, nil
}

// slackWebhookError classifies a failed incoming-webhook answer.
func slackWebhookError(status int, body string, retryAfter time.Duration) *DeliveryError {
	if status == http.StatusTooManyRequests {
		return rateLimited("Slack", retryAfter)
	}
	if reason, ok := slackWebhookErrors[body]; ok {
		return &DeliveryError{Reason: reason, Code: body, StatusCode: status, Permanent: body != "rollup_error"}
	}
	if status == http.StatusOK {
		// Not "ok" and not a known code: the message may or may not have
		// been posted, so it is not retried.
		return &DeliveryError{Reason: "Slack gave an unexpected answer to the webhook post: check the webhook URL", Code: "unexpected_response", StatusCode: status, Permanent: true}
	}
	de := httpStatusError("Slack", status, retryAfter)
	if isCode(body) && status >= 400 && status < 500 {
		de.Code = body
		de.Reason = "Slack refused the message (" + body + ")"
	}
	return de
}

// badWebhookURL is the error of a webhook URL that checkWebhookURL
// refused with err: a loopback URL refused by the loopback setting says
// so, rather than blaming the channel.
func badWebhookURL(platform string, err error) *DeliveryError {
	if errors.Is(err, errLoopbackRefused) {
		return &DeliveryError{Reason: "the " + platform + " webhook URL is on a loopback address: " + loopbackHint, Code: "loopback_url_refused", Permanent: true}
	}
	return &DeliveryError{Reason: "the " + platform + " webhook URL is not allowed: update the channel with a valid webhook URL", Code: "invalid_webhook_url", Permanent: true}
}

// slackResponseHosts are the only hosts a response_url may point at.
var slackResponseHosts = []string{"hooks.slack.com"}

// slackResponse is the JSON body posted to a response_url: the
// replacement of the clicked message (replace_original true), or a
// message shown only to the clicker (response_type "ephemeral",
// replace_original false: the original stays as it is).
type slackResponse struct {
	Text            string        `json:"text"`
	Blocks          []slack.Block `json:"blocks,omitempty"`
	ResponseType    string        `json:"response_type,omitempty"`
	ReplaceOriginal bool          `json:"replace_original"`
}

// slackResponseErrors maps the error codes of a response_url answer to
// what went wrong.
var slackResponseErrors = map[string]string{
	"expired_url":       "the click's response_url has expired (Slack accepts one for 30 minutes)",
	"used_url":          "the click's response_url has been used up (Slack accepts 5 messages per click)",
	"message_not_found": "the clicked Slack message no longer exists",
	"no_text":           "Slack rejected the message as empty: please report this bug in chatnotify",
	"invalid_blocks":    "Slack rejected the message's blocks: please report this bug in chatnotify",
	"invalid_payload":   "Slack rejected the message (invalid_payload): please report this bug in chatnotify",
}

// respond implements [transport]: it POSTs m as JSON to a click's
// response_url, which must be an https://hooks.slack.com/ URL (or, with
// AllowLoopbackURLs, on a loopback address). Slack answers "ok" or
// {"ok":true}; {"ok":false,"error":…}, a 429 with Retry-After and 5xx
// answers are classified like every other delivery's.
func (s *PlatformSender) respond(ctx context.Context, responseURL string, m slackResponse) error {
	start := s.now()
	err := s.postResponse(ctx, responseURL, m)
	attrs := []slog.Attr{slog.String("op", "respond"), slog.String("via", "slack_response_url"), slog.Duration("took", s.now().Sub(start))}
	var de *DeliveryError
	if errors.As(err, &de) {
		attrs = append(attrs, slog.String("code", de.Code), slog.String("reason", de.Reason))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "notify: platform request", attrs...)
	return err
}

func (s *PlatformSender) postResponse(ctx context.Context, responseURL string, m slackResponse) error {
	if err := checkURL(responseURL, slackResponseHosts, s.loopback); err != nil {
		if errors.Is(err, errLoopbackRefused) {
			return &DeliveryError{Reason: "the click's response_url is on a loopback address: " + loopbackHint, Code: "loopback_url_refused", Permanent: true}
		}
		return &DeliveryError{Reason: "the click's response_url is not an https://hooks.slack.com/ URL, so it is not used", Code: "invalid_response_url", Permanent: true}
	}
	status, text, retryAfter, err := s.postJSON(ctx, responseURL, m)
	if err != nil {
		return err
	}
	var answer struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	isJSON := json.Unmarshal([]byte(text), &answer) == nil && answer.OK != nil
	refused := isJSON && !*answer.OK
	switch {
	case status/100 == 2 && !refused:
		return nil // "ok", {"ok":true}, or any other 2xx answer
	case status == http.StatusTooManyRequests:
		return rateLimited("Slack", retryAfter)
	case refused && status < 500:
		return slackCodeError(answer.Error, status, slackResponseErrors)
	case isCode(text) && status >= 400 && status < 500:
		return slackCodeError(text, status, slackResponseErrors)
	}
	return httpStatusError("Slack", status, retryAfter)
}
