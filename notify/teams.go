package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	goteamsnotify "github.com/atc0005/go-teams-notify/v2"

	"github.com/chatnotify/chatnotify/approval"
)

// teamsPayload is a rendered message handed to go-teams-notify's client,
// which accepts any [goteamsnotify.TeamsMessage].
type teamsPayload struct {
	body []byte
}

var _ goteamsnotify.TeamsMessage = (*teamsPayload)(nil)

func (p *teamsPayload) Prepare() error { return nil }

func (p *teamsPayload) Validate() error {
	if len(p.body) == 0 || len(p.body) > teamsMaxBytes {
		return errors.New("notify: Teams message is empty or too large")
	}
	return nil
}

func (p *teamsPayload) Payload() io.Reader { return bytes.NewReader(p.body) }

// newTeamsClient returns go-teams-notify's client on our HTTP client. Its
// own URL check (prefix regular expressions that accept
// https://evil.example/x.webhook.office.com/) is turned off: the sender
// checks every URL with checkWebhookURL instead.
func newTeamsClient(c *http.Client, userAgent string) *goteamsnotify.TeamsClient {
	return goteamsnotify.NewTeamsClient().
		SetHTTPClient(c).
		SetUserAgent(userAgent).
		SkipWebhookURLValidationOnSend(true)
}

// errTeamsTooLarge is returned for a message that does not fit Teams'
// limit even after shortening.
var errTeamsTooLarge = &DeliveryError{Reason: "the message is too large for Teams even after shortening: please report this bug in chatnotify", Code: "message_too_large", Permanent: true}

// teamsSend posts body, a rendered Teams message, to ch's webhook or
// Workflows URL.
//
// go-teams-notify reports failures as text only ("error on notification:
// 429 Too Many Requests, …", which for network errors includes the URL),
// and drops the Retry-After header. So the error text is never used: the
// status, Retry-After and the start of the body are recorded by our
// transport (see withCapture) and classified here. (go-teams-notify also
// has a package-level logger, silent unless a host calls its
// EnableLogging, that would print webhook URLs: hosts must not enable
// it.)
func (s *PlatformSender) teamsSend(ctx context.Context, ch Channel, body []byte) error {
	if err := checkWebhookURL(Teams, ch.Config.WebhookURL, s.loopback); err != nil {
		return badWebhookURL("Teams", err)
	}
	var c capture
	err := s.teams.SendWithContext(withCapture(ctx, &c), ch.Config.WebhookURL, &teamsPayload{body: body})
	if err == nil {
		return nil
	}
	if c.status == 0 {
		if ctx.Err() != nil {
			return transportError("Teams", ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return transportError("Teams", ue.Err)
		}
		return &DeliveryError{Reason: "the Teams message could not be prepared: please report this bug in chatnotify", Code: "prepare_error", Permanent: true}
	}
	return teamsError(c.status, c.body, c.retryAfter)
}

// teamsOptions returns the rendering options for ev: the console link,
// and signed Approve / Deny links for an approval request when the host
// has a public URL and a signer. A link's token names the request's
// organisation and expires with the request.
func (s *PlatformSender) teamsOptions(ch Channel, ev Event) teamsRender {
	o := teamsRender{console: s.consoleLink(ev)}
	ar, ok := deref(ev).(ApprovalRequested)
	if !ok || s.publicURL == "" || s.signer == nil || ar.Request.ID == "" {
		return o
	}
	org := ar.Request.OrgID
	if org == "" {
		org = ch.OrgID
	}
	link := func(d approval.Decision) string {
		tok := s.signer.Sign(approval.ActionClaims{OrgID: org, ApprovalID: ar.Request.ID, Decision: d, ExpiresAt: ar.Request.ExpiresAt})
		return s.publicURL + approval.TeamsInteractionsPath + "?token=" + url.QueryEscape(tok)
	}
	o.approveURL, o.denyURL = link(approval.Approve), link(approval.Deny)
	return o
}

// teamsCodeReasons maps Workflows (Power Automate) error codes, found as
// {"error":{"code":…}} in the body, to what an admin should do.
var teamsCodeReasons = map[string]string{
	"WorkflowTriggerIsNotEnabled":            "the Teams workflow is turned off: turn it on in Power Automate",
	"WorkflowNotFound":                       "the Teams workflow no longer exists: create a new Workflows webhook and update the channel",
	"DirectApiAuthorizationRequired":         "the Workflows URL was not accepted: copy the complete URL, including its sig parameter, again",
	"DirectApiInvalidAuthorizationSignature": "the Workflows URL's signature is not valid: copy the complete URL again or create a new Workflows webhook",
}

// teamsError classifies a failed Teams webhook answer.
func teamsError(status int, body []byte, retryAfter time.Duration) *DeliveryError {
	text := strings.TrimSpace(string(body))
	if status == http.StatusTooManyRequests || status == http.StatusOK && strings.Contains(text, "429") {
		// Legacy connectors report throttling as 200 with
		// "Microsoft Teams endpoint returned HTTP error 429" in the body.
		de := rateLimited("Teams", retryAfter)
		de.StatusCode = status
		return de
	}
	code := workflowsCode(body)
	if reason, ok := teamsCodeReasons[code]; ok {
		return &DeliveryError{Reason: reason, Code: code, StatusCode: status, Permanent: status < 500}
	}
	st := strconv.Itoa(status)
	de := &DeliveryError{Code: "http_" + st, StatusCode: status, Permanent: true}
	switch {
	case status >= 200 && status < 300:
		// Neither 202 nor 200 with "1": the message may or may not have
		// been posted, so it is not retried.
		de.Reason = "Teams gave an unexpected answer (HTTP " + st + "): check that the URL is a Teams incoming webhook or Workflows URL"
		de.Code = "unexpected_response"
	case status == http.StatusBadRequest:
		de.Reason = "Teams rejected the message (HTTP 400): if the webhook URL is right, please report this bug in chatnotify"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		de.Reason = "the Teams webhook refused the message (HTTP " + st + "): the connector or workflow may be turned off or restricted; check it or create a new webhook URL"
	case status == http.StatusNotFound || status == http.StatusGone:
		de.Reason = "the Teams webhook URL is no longer valid (HTTP " + st + "): its connector or workflow was removed or retired; create a Workflows webhook and update the channel"
	case status == http.StatusRequestEntityTooLarge:
		de.Reason = "the message is too large for Teams (HTTP 413): please report this bug in chatnotify"
	default:
		de = httpStatusError("Teams", status, retryAfter)
	}
	if code != "" && de.Code != "unexpected_response" {
		de.Code = code
	}
	return de
}

// workflowsCode extracts error.code from a Workflows JSON error body, or
// returns "" when there is none that looks like a code.
func workflowsCode(body []byte) string {
	var v struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || !isCode(v.Error.Code) {
		return ""
	}
	return v.Error.Code
}
