package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/chatnotify/chatnotify/internal/webhookurl"
	"github.com/chatnotify/chatnotify/teams"
)

// The Teams channels reached through the host's bot: proactive messages
// through the Bot Connector REST API (protocol.md §11),
//
//	POST {serviceUrl}v3/conversations/{conversationId}/activities               → 201 {"id": …}
//	PUT  {serviceUrl}v3/conversations/{conversationId}/activities/{activityId}  → 200 {"id": …}
//
// with a bearer token from Microsoft Entra by client credentials (the
// bot's app ID and client secret, scope https://api.botframework.com/.default).

// botFrameworkScope is the scope of a Bot Connector token.
const botFrameworkScope = "https://api.botframework.com/.default"

// defaultTokenURL is the Entra token endpoint of a tenant.
const defaultTokenURL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"

// tokenEarlyRefresh is how long before its expiry a bot token is
// replaced: a send never goes out with a token about to expire, and
// Entra's clock may run ahead of ours.
const tokenEarlyRefresh = 5 * time.Minute

// tokenTimeout bounds one token request.
const tokenTimeout = 20 * time.Second

// teamsBot holds the host's bot credentials and its one token source,
// shared by every send of the sender: concurrent sends wait for one token
// request rather than making one each, and the token is reused until 5
// minutes before it expires. The client secret lives only in cc, which is
// never logged or printed.
type teamsBot struct {
	cc     clientcredentials.Config
	client *http.Client

	mu sync.Mutex
	ts oauth2.TokenSource
}

// newTeamsBot returns the bot of o, nil when o configures none, or an
// error naming the option that is wrong (never its value).
func newTeamsBot(o *SenderOptions, client *http.Client) (*teamsBot, error) {
	id, secret := strings.TrimSpace(o.TeamsAppID), o.TeamsAppSecret
	tenant, tokenURL := strings.TrimSpace(o.TeamsAppTenant), strings.TrimSpace(o.TeamsTokenURL)
	if id == "" && secret == "" && tenant == "" && tokenURL == "" {
		return nil, nil
	}
	switch {
	case id == "" || secret == "":
		return nil, errors.New("notify: TeamsAppID and TeamsAppSecret must be set together")
	case tenant == "" && tokenURL == "":
		return nil, errors.New("notify: TeamsAppTenant is required with TeamsAppID (or TeamsTokenURL)")
	case strings.ContainsAny(tenant, "/?#%@ \t\r\n"):
		return nil, errors.New("notify: TeamsAppTenant must be a tenant ID or domain name")
	}
	if tokenURL == "" {
		tokenURL = strings.Replace(defaultTokenURL, "{tenant}", url.PathEscape(tenant), 1)
	} else if err := checkTokenURL(tokenURL, o.AllowLoopbackURLs); err != nil {
		return nil, err
	}
	b := &teamsBot{
		cc: clientcredentials.Config{
			ClientID:     id,
			ClientSecret: secret,
			TokenURL:     tokenURL,
			Scopes:       []string{botFrameworkScope},
			// The Bot Framework documents the credentials as form fields;
			// Entra refuses neither, but a proxy or fake may refuse Basic.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		client: client,
	}
	b.ts = b.newSource()
	return b, nil
}

// checkTokenURL checks SenderOptions.TeamsTokenURL: an absolute https
// URL without credentials, or an http(s) one on a loopback address with
// AllowLoopbackURLs.
func checkTokenURL(raw string, allowLoopback bool) error {
	if err := checkBaseURL(raw); err != nil {
		return errors.New("notify: TeamsTokenURL " + err.Error())
	}
	u, _ := url.Parse(raw)
	if u.Scheme == "https" {
		return nil
	}
	loopback := webhookurl.IsLoopback(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."))
	if allowLoopback && loopback {
		return nil
	}
	if loopback {
		return errors.New("notify: TeamsTokenURL is on a loopback address: " + loopbackHint)
	}
	return errors.New("notify: TeamsTokenURL must be an https URL")
}

// newSource returns a token source that requests a token when it has
// none or its token expires within tokenEarlyRefresh. It wraps cc.Token,
// which requests a token on every call: wrapping cc.TokenSource instead
// would not refresh early, since that source caches its token itself,
// until 10 seconds before expiry.
func (b *teamsBot) newSource() oauth2.TokenSource {
	fetch := tokenFunc(func() (*oauth2.Token, error) {
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, b.client), tokenTimeout)
		defer cancel()
		return b.cc.Token(ctx)
	})
	return oauth2.ReuseTokenSourceWithExpiry(nil, fetch, tokenEarlyRefresh)
}

type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }

// token returns a bearer token for the Bot Connector, and the source it
// came from (for reset). It returns when ctx ends even while a token
// request is in flight; that request then still completes, within
// tokenTimeout, and its token is kept for the next send.
func (b *teamsBot) token(ctx context.Context) (string, oauth2.TokenSource, error) {
	b.mu.Lock()
	ts := b.ts
	b.mu.Unlock()
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		t, err := ts.Token()
		done <- result{t, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", ts, tokenError(r.err)
		}
		if r.tok.AccessToken == "" {
			return "", ts, &DeliveryError{Reason: "Microsoft Entra answered without a token for the Teams bot: it will be retried", Code: "token_error"}
		}
		return r.tok.AccessToken, ts, nil
	case <-ctx.Done():
		return "", ts, transportError("Microsoft Entra", ctx.Err())
	}
}

// reset drops the cached token of ts after the Bot Connector refused it,
// so that the next send requests a new one (unless another send has
// already reset it).
func (b *teamsBot) reset(ts oauth2.TokenSource) {
	b.mu.Lock()
	if b.ts == ts {
		b.ts = b.newSource()
	}
	b.mu.Unlock()
}

// aadstsCode matches the AADSTS error number that starts an Entra
// error_description ("AADSTS7000215: Invalid client secret provided…").
var aadstsCode = regexp.MustCompile(`^AADSTS[0-9]{1,10}\b`)

// tokenError classifies a failed token request. x/oauth2's error texts
// quote the token endpoint's answer, which is never used: only the
// status, an error code and an AADSTS number are kept.
func tokenError(err error) *DeliveryError {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		var retryAfter time.Duration
		if re.Response != nil {
			status = re.Response.StatusCode
			retryAfter = parseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
		}
		code := re.ErrorCode
		if !isCode(code) {
			code = ""
		}
		detail := code
		if n := aadstsCode.FindString(re.ErrorDescription); n != "" {
			detail = strings.TrimPrefix(detail+", "+n, ", ")
		}
		if detail != "" {
			detail = " (" + detail + ")"
		}
		switch {
		case status == http.StatusTooManyRequests:
			return rateLimited("Microsoft Entra", retryAfter)
		case status >= 500:
			de := httpStatusError("Microsoft Entra", status, retryAfter)
			de.Reason = "Microsoft Entra had a server error (HTTP " + strconv.Itoa(status) + ") issuing the Teams bot's token: it will be retried"
			return de
		case code == "":
			code = "http_" + strconv.Itoa(status)
		}
		if code == "invalid_client" || code == "unauthorized_client" || status == http.StatusUnauthorized {
			return &DeliveryError{Reason: "Microsoft Entra refused the Teams bot's credentials" + detail + ": the server's operator must check its Teams app ID, client secret (it may have expired) and tenant", Code: code, StatusCode: status, Permanent: true}
		}
		return &DeliveryError{Reason: "Microsoft Entra refused the Teams bot's token request" + detail + ": the server's operator must check its Teams app ID, tenant and token URL", Code: code, StatusCode: status, Permanent: true}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return transportError("Microsoft Entra", ue.Err)
	}
	if isContextOrNet(err) {
		return transportError("Microsoft Entra", err)
	}
	// Such as an answer without access_token, or one that is not JSON.
	return &DeliveryError{Reason: "Microsoft Entra gave an unreadable answer to the Teams bot's token request: it will be retried", Code: "token_error"}
}

// errBotNotConfigured is the error of a bot channel on a sender without
// bot credentials.
var errBotNotConfigured = &DeliveryError{
	Reason:    "this channel is reached through a Teams bot, and this server has no Teams bot configured: its operator must set the bot's app ID, client secret and tenant (SenderOptions.TeamsAppID, TeamsAppSecret, TeamsAppTenant)",
	Code:      "bot_not_configured",
	Permanent: true,
}

// errBotRemoved is the error of a conversation the bot is no longer in.
var errBotRemoved = &DeliveryError{
	Reason:     "the bot was removed from this Teams conversation: add it again or pick another conversation",
	Code:       "bot_not_in_conversation",
	StatusCode: http.StatusForbidden,
	Permanent:  true,
}

// botActivity is the message activity posted to (or put in) a
// conversation: the card as an attachment, and the conversation's tenant
// in channelData, as proactive messages carry it.
type botActivity struct {
	Type        string             `json:"type"`
	Attachments []teams.Attachment `json:"attachments"`
	ChannelData *botChannelData    `json:"channelData,omitempty"`
}

type botChannelData struct {
	Tenant struct {
		ID string `json:"id"`
	} `json:"tenant"`
}

// newBotActivity wraps card in a message activity for the conversation
// of tenant.
func newBotActivity(card teams.Card, tenant string) botActivity {
	a := botActivity{Type: "message", Attachments: teams.NewMessage(card).Attachments}
	if tenant != "" {
		a.ChannelData = &botChannelData{}
		a.ChannelData.Tenant.ID = tenant
	}
	return a
}

// activityURL returns the Bot Connector URL of ch's conversation, or of
// the activity activityID in it, built from the parsed and checked
// service URL: its path (a region such as /amer/) is kept, and the IDs
// are path-escaped (a reply thread's ";messageid=…" included).
func activityURL(base *url.URL, conversationID, activityID string) string {
	p := strings.TrimSuffix(base.EscapedPath(), "/") + "/v3/conversations/" + url.PathEscape(conversationID) + "/activities"
	if activityID != "" {
		p += "/" + url.PathEscape(activityID)
	}
	return base.Scheme + "://" + base.Host + p
}

// teamsBotSend posts body, a rendered message activity, to ch's
// conversation, or, with activityID, replaces that activity with it. It
// returns the ID of the activity.
func (s *PlatformSender) teamsBotSend(ctx context.Context, ch Channel, activityID string, body []byte) (string, error) {
	if s.bot == nil {
		return "", errBotNotConfigured
	}
	base, err := checkServiceURL(ch.Config.ServiceURL, s.loopback)
	if err != nil {
		if errors.Is(err, errLoopbackRefused) {
			return "", &DeliveryError{Reason: "the Teams service_url is on a loopback address: " + loopbackHint, Code: "loopback_url_refused", Permanent: true}
		}
		return "", &DeliveryError{Reason: "the Teams service_url is not a Bot Framework service URL, so it is not used: pick the conversation again", Code: "invalid_service_url", Permanent: true}
	}
	if !teamsConversationID.MatchString(ch.Config.ConversationID) {
		return "", &DeliveryError{Reason: "the Teams conversation_id is not valid: pick the conversation again", Code: "invalid_conversation_id", Permanent: true}
	}
	tok, ts, err := s.bot.token(ctx)
	if err != nil {
		return "", err
	}
	method := http.MethodPost
	if activityID != "" {
		method = http.MethodPut
	}
	var c capture
	req, err := http.NewRequestWithContext(withCapture(ctx, &c), method, activityURL(base, ch.Config.ConversationID, activityID), bytes.NewReader(body))
	if err != nil {
		return "", &DeliveryError{Reason: "the Teams conversation could not be requested: pick the conversation again", Code: "invalid_service_url", Permanent: true}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", s.userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", transportError("Teams", err)
	}
	answer := readSnippet(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(answer, &v)
		if v.ID == "" {
			v.ID = activityID
		}
		return v.ID, nil
	}
	if resp.StatusCode == http.StatusUnauthorized {
		s.bot.reset(ts) // the next send gets a new token
	}
	return "", connectorError(resp.StatusCode, answer, c.retryAfter, activityID != "")
}

// connectorError classifies a failed Bot Connector answer. Retried:
// 429 (after its Retry-After), 412 (which Teams also answers when
// throttling), 500, 502, 503 and 504. Everything else is permanent, with
// a reason saying what to change.
func connectorError(status int, body []byte, retryAfter time.Duration, update bool) *DeliveryError {
	code := workflowsCode(body) // the same {"error":{"code":…}} shape
	st := strconv.Itoa(status)
	if code == "BotNotInConversationRoster" {
		return errBotRemoved
	}
	switch status {
	case http.StatusTooManyRequests:
		return rateLimited("Teams", retryAfter)
	case http.StatusPreconditionFailed:
		return &DeliveryError{Reason: "Teams asked to try again later (HTTP 412): it will be retried", Code: "http_412", StatusCode: status, RetryAfter: retryAfter}
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		de := httpStatusError("Teams", status, retryAfter)
		de.Reason = "the Teams Bot Connector had a server error (HTTP " + st + "): it will be retried"
		return de
	}
	de := &DeliveryError{Code: "http_" + st, StatusCode: status, Permanent: true}
	if code != "" {
		de.Code = code
	}
	switch {
	case status == http.StatusUnauthorized:
		de.Reason = "the Teams Bot Connector refused the bot's token (HTTP 401): the server's operator must check that its Teams app ID and tenant are those of the bot registered for Teams"
	case status == http.StatusForbidden:
		de.Reason = "the Teams Bot Connector refused to post in this conversation (HTTP 403): check that the bot is installed in the team and allowed to post there, or pick another conversation"
	case status == http.StatusNotFound && update:
		de.Reason = "the Teams message to update no longer exists in the conversation (HTTP 404)"
	case status == http.StatusNotFound:
		de.Reason = "the Teams conversation was not found (HTTP 404): it may have been deleted; pick another conversation"
	case status == http.StatusRequestEntityTooLarge:
		de.Reason = "the message is too large for Teams (HTTP 413): please report this bug in chatnotify"
	case status == http.StatusBadRequest:
		de.Reason = "the Teams Bot Connector rejected the message (HTTP 400): check the channel's conversation_id; if it is right, please report this bug in chatnotify"
	default:
		de = httpStatusError("Teams", status, retryAfter)
		if code != "" && status < 500 {
			de.Code = code
		}
	}
	return de
}
