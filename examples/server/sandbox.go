package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/slackverify"
	"github.com/chatnotify/chatnotify/teams/botauth/botauthtest"
)

// The sandbox (-sandbox, SANDBOX=1) lets you try chatnotify with no Slack
// or Teams account: a fake Slack (Web API, incoming webhooks,
// response_urls) and a fake Teams (webhooks, Workflows, and a bot: the Bot
// Connector, Microsoft Entra's token endpoint and the Bot Framework's
// token issuer) run in-process on loopback, and every request the app
// sends to Slack, Teams or Microsoft goes to them through
// sandbox.client(). Channels are configured with real-looking URLs and
// tokens, which pass the production validation unchanged.
//
// The page at /sandbox drives the real API: it creates channels with the
// settings API, raises events with POST /v1/approvals and POST /v1/events,
// and shows what each channel received. A click on a Slack button is sent
// by the sandbox as Slack would send it: a signed block_actions callback
// to the real /v1/webhooks/slack/interactions over HTTP. A Teams webhook
// card's button is the card's real signed link. A click on a Teams bot
// card's button is sent by the sandbox as the Bot Connector would send
// it: an adaptiveCard/action invoke with a Bot Framework JWT, minted by
// the fake issuer, to the real /v1/webhooks/teams/messages over HTTP; the
// card it answers replaces the clicked one, as Teams does
// (sandbox_teamsbot.go).

//go:embed sandbox
var sandboxAssets embed.FS

// Identifiers of the pretend Slack workspace and app.
const (
	sandboxTeamID = "T0SANDBOX"
	sandboxAppID  = "A0SANDBOX"
	sandboxBotID  = "B0SANDBOX"
)

// sandbox runs the fakes and serves the /sandbox page and its API.
type sandbox struct {
	app *app
	// fake is Slack (Web API, incoming webhooks, response_urls) and
	// Teams (webhooks, Workflows) in one loopback server.
	fake *notifytest.Server
	// routed sends the app's outbound requests to the fakes.
	routed *http.Client
	// direct sends the sandbox's Slack clicks to the app's own listener.
	direct *http.Client
	page   *template.Template
	static http.Handler
	// issuer mints the Bot Framework tokens of the sandbox's Teams bot
	// activities; the bot endpoint's validator trusts it.
	issuer *botauthtest.Issuer

	mu sync.Mutex
	// invoked holds the cards that bot endpoint answered clicks with,
	// shown in place of the clicked ones (sandbox_teamsbot.go).
	invoked map[string]invokedCard
}

// errSandboxSecret is returned when the sandbox would sign clicks without
// a secret; newApp generates one in sandbox mode.
var errSandboxSecret = errors.New("sandbox: no Slack signing secret")

func newSandbox(a *app) (*sandbox, error) {
	if len(a.cfg.SlackSecrets) == 0 {
		return nil, errSandboxSecret
	}
	page, err := template.ParseFS(sandboxAssets, "sandbox/index.html")
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(sandboxAssets, "sandbox")
	if err != nil {
		return nil, err
	}
	s := &sandbox{
		app:     a,
		fake:    notifytest.New(),
		direct:  &http.Client{Timeout: 10 * time.Second},
		page:    page,
		static:  http.StripPrefix("/sandbox/static/", http.FileServerFS(static)),
		invoked: map[string]invokedCard{},
	}
	// Its loopback server runs until the process exits (it has no Close).
	s.issuer = botauthtest.NewIssuer(nil, s.fake.TeamsBot().AppID)
	if host, _, err := net.SplitHostPort(a.cfg.Addr); err != nil || !isLoopback(host) {
		a.warn("Sandbox mode listening beyond loopback (ADDR=" + a.cfg.Addr + "): the /sandbox page hands the admin token to anyone who opens it. Use ADDR=127.0.0.1:8080.")
	}
	s.routed = &http.Client{Timeout: 30 * time.Second, Transport: &fakeRouter{
		fake: mustParse(s.fake.SlackAPIURL()),
		next: http.DefaultTransport,
	}}
	return s, nil
}

func mustParse(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err) // the fakes' own httptest URLs
	}
	return u
}

// client is the HTTP client of every outbound request of the app in
// sandbox mode.
func (s *sandbox) client() *http.Client { return s.routed }

func (s *sandbox) close() { s.fake.Close() }

// isLoopback reports whether host (a name or an IP address, without a
// port) is this machine only.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isTeamsHost reports whether host is one of the Teams webhook and
// Workflows hosts the settings API accepts. It only routes the sandbox's
// requests: the settings API and the sender check every URL themselves.
func isTeamsHost(host string) bool {
	switch host {
	case "outlook.office.com", "outlook.office365.com":
		return true
	}
	for _, suffix := range []string{".webhook.office.com", ".logic.azure.com", ".api.powerplatform.com"} {
		if name, ok := strings.CutSuffix(host, suffix); ok && name != "" {
			return true
		}
	}
	return false
}

// fakeRouter is the sandbox client's transport: it sends Slack's and
// Teams' hosts, the Bot Connector's (smba.trafficmanager.net) and Microsoft
// Entra's (login.microsoftonline.com, whose paths the fake serves under
// /login) to the fake, keeping the path and query, and refuses everything
// else, so the sandbox never reaches the internet.
type fakeRouter struct {
	fake *url.URL
	next http.RoundTripper
}

func (f *fakeRouter) RoundTrip(r *http.Request) (*http.Response, error) {
	host := strings.ToLower(r.URL.Hostname())
	known := host == "slack.com" || host == "hooks.slack.com" || isTeamsHost(host) ||
		host == sandboxServiceHost || host == entraHost
	if r.URL.Scheme != "https" || !known {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("sandbox: %s://%s is not a Slack, Teams or Microsoft host, and the sandbox reaches nothing else", r.URL.Scheme, host)
	}
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host = f.fake.Scheme, f.fake.Host, ""
	if host == entraHost {
		out.URL.Path, out.URL.RawPath = "/login"+out.URL.Path, ""
	}
	return f.next.RoundTrip(out)
}

func (s *sandbox) routes(m *http.ServeMux) {
	m.HandleFunc("GET /sandbox", s.servePage)
	m.Handle("GET /sandbox/static/", s.static)
	m.HandleFunc("GET /sandbox/api/state", s.state)
	m.HandleFunc("POST /sandbox/api/slack/click", s.click)
	m.HandleFunc("POST /sandbox/api/teams/install", s.teamsInstall)
	m.HandleFunc("POST /sandbox/api/teams/remove", s.teamsRemove)
	m.HandleFunc("POST /sandbox/api/teams/click", s.teamsClick)
}

// servePage serves the page with this run's admin token in it, so that
// its JavaScript can call the API. This is acceptable only because the
// sandbox is a local development tool: anyone who can open /sandbox gets
// admin rights. Never run -sandbox where others can reach the server.
func (s *sandbox) servePage(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	err := s.page.Execute(&buf, map[string]any{
		"Token":     s.app.cfg.AdminToken,
		"PublicURL": s.app.cfg.PublicURL,
	})
	if err != nil {
		s.app.logger.Error("sandbox: rendering the page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.Write(buf.Bytes())
}

// sandboxChannel is a channel with what it received, for the page.
type sandboxChannel struct {
	ID      string             `json:"id"`
	Name    string             `json:"name"`
	Type    notify.ChannelType `json:"channel_type"`
	Kind    string             `json:"kind"`  // "bot", "webhook", "teams" or "teams-bot"
	Where   string             `json:"where"` // masked: no secret reaches the page
	Events  []notify.EventType `json:"events"`
	Enabled bool               `json:"enabled"`
	// Messages are Slack messages as they stand now (replacements
	// applied), or the Teams messages received, oldest first.
	Messages []sandboxMessage `json:"messages"`
}

type sandboxMessage struct {
	ID        string           `json:"id"` // a Teams bot card's is its activity ID
	Text      string           `json:"text,omitempty"`
	Blocks    []map[string]any `json:"blocks,omitempty"`
	Cards     []map[string]any `json:"cards,omitempty"`
	Ephemeral bool             `json:"ephemeral,omitempty"`
	Edits     []string         `json:"edits,omitempty"`
	At        time.Time        `json:"at"`
}

// state serves GET /sandbox/api/state: the org's channels, each with the
// messages the fakes hold for it. The page polls it.
func (s *sandbox) state(w http.ResponseWriter, r *http.Request) {
	u, ok := s.app.caller(w, r, true)
	if !ok {
		return
	}
	chans, err := s.app.store.ListChannels(r.Context(), u.OrgID)
	if err != nil {
		s.app.writeErr(w, r, err)
		return
	}
	msgs := s.fake.Messages()
	out := make([]sandboxChannel, 0, len(chans))
	for _, ch := range chans {
		sc := sandboxChannel{
			ID: ch.ID, Name: ch.Name, Type: ch.Type, Events: ch.Events, Enabled: ch.Enabled,
			Messages: []sandboxMessage{},
		}
		masked := ch.Config.Masked()
		where := ch.Config.ChannelID // a bot's messages are in its Slack channel
		switch {
		case ch.Type == notify.Teams && ch.Config.ConversationID != "":
			// A Teams bot's cards, under their conversation.
			sc.Kind, sc.Where = "teams-bot", ch.Config.ConversationID+" · "+ch.Config.ServiceURL
			where = ch.Config.ConversationID
		case ch.Type == notify.Teams:
			sc.Kind, sc.Where = "teams", masked.WebhookURL
			where = urlPath(ch.Config.WebhookURL) // a webhook's, under its URL's path
		case ch.UsesBot():
			sc.Kind, sc.Where = "bot", ch.Config.ChannelID+" · "+masked.BotToken
		default:
			sc.Kind, sc.Where = "webhook", masked.WebhookURL
			where = urlPath(ch.Config.WebhookURL)
		}
		for i, m := range msgs {
			if m.Channel != where {
				continue
			}
			id := m.TS
			switch {
			case (sc.Kind == "teams-bot") != (m.ActivityID != ""):
				continue // a bot card is in its conversation only
			case sc.Kind == "teams-bot":
				id = m.ActivityID
				m.Cards, m.Edits = s.botCards(m)
			case id == "":
				id = strconv.Itoa(i) // Teams webhook messages have no ts
			}
			sc.Messages = append(sc.Messages, sandboxMessage{
				ID: id, Text: m.Text, Blocks: m.Blocks, Cards: m.Cards, Ephemeral: m.Ephemeral, Edits: m.Edits, At: m.Posted,
			})
		}
		out = append(out, sc)
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
}

func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

// clickRequest is what the page sends when a Slack button is clicked.
type clickRequest struct {
	Channel  string `json:"channel"`   // the notification channel's ID
	TS       string `json:"ts"`        // the message clicked
	ActionID string `json:"action_id"` // the button clicked
	User     string `json:"user"`      // the Slack user name to click as
}

// click serves POST /sandbox/api/slack/click: it sends what Slack sends
// when someone clicks a button of a bot message, a block_actions callback
// signed with the app's signing secret, to the app's real interactions
// endpoint over HTTP, and reports the answer to the page.
func (s *sandbox) click(w http.ResponseWriter, r *http.Request) {
	u, ok := s.app.caller(w, r, true)
	if !ok {
		return
	}
	var in clickRequest
	if err := decodeJSON(w, r, &in); err != nil {
		s.app.writeErr(w, r, err)
		return
	}
	in.User = strings.TrimSpace(in.User)
	if in.User == "" {
		in.User = "sandbox.user"
	}
	ch, err := s.app.store.GetChannel(r.Context(), u.OrgID, in.Channel)
	if err != nil || !ch.UsesBot() {
		writeError(w, http.StatusNotFound, "no Slack bot channel with this id")
		return
	}
	var msg *notifytest.Message
	for _, m := range s.fake.Messages() {
		if m.Channel == ch.Config.ChannelID && m.TS == in.TS {
			msg = &m
			break
		}
	}
	if msg == nil {
		writeError(w, http.StatusNotFound, "no such message in the channel")
		return
	}
	action, blockID, ok := findButton(msg.Blocks, in.ActionID)
	if !ok {
		writeError(w, http.StatusBadRequest, "the message has no such button")
		return
	}
	body, err := json.Marshal(s.blockActions(ch, msg, action, blockID, in.User))
	if err != nil {
		s.app.writeErr(w, r, err)
		return
	}
	form := []byte("payload=" + url.QueryEscape(string(body)))

	base := s.app.cfg.PublicURL
	if base == "" {
		base = "http://" + r.Host
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, base+approval.SlackInteractionsPath, bytes.NewReader(form))
	if err != nil {
		s.app.writeErr(w, r, err)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slackverify.Sign(req.Header, form, time.Now(), s.app.cfg.SlackSecrets[0])
	resp, err := s.direct.Do(req)
	if err != nil {
		s.app.logger.Warn("sandbox: sending the Slack click", "err", err)
		writeError(w, http.StatusBadGateway, "could not reach "+approval.SlackInteractionsPath+" at PUBLIC_URL")
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	writeJSON(w, http.StatusOK, map[string]any{
		"status":  resp.StatusCode,
		"answer":  string(answer),
		"payload": json.RawMessage(body),
	})
}

// findButton returns the button of blocks whose action_id is id, and its
// block's block_id.
func findButton(blocks []map[string]any, id string) (map[string]any, string, bool) {
	for _, b := range blocks {
		els, _ := b["elements"].([]any)
		for _, e := range els {
			if m, _ := e.(map[string]any); b["type"] == "actions" && m["type"] == "button" && m["action_id"] == id && id != "" {
				blockID, _ := b["block_id"].(string)
				return m, blockID, true
			}
		}
	}
	return nil, "", false
}

// blockActions builds the payload Slack sends for a click on a button of
// a message, in the shape of Slack's reference sample (protocol.md §2).
// Its response_url is a hooks.slack.com URL that the sandbox client
// routes to the fake, which applies the replacement to the message.
func (s *sandbox) blockActions(ch notify.Channel, msg *notifytest.Message, button map[string]any, blockID, user string) map[string]any {
	now := time.Now()
	actionTS := fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
	fake, _ := url.Parse(s.fake.ResponseURL(msg.Channel, msg.TS))
	action := map[string]any{
		"type": "button", "action_id": button["action_id"], "block_id": blockID,
		"text": button["text"], "action_ts": actionTS,
	}
	for _, k := range []string{"value", "style", "url"} {
		if v, ok := button[k]; ok {
			action[k] = v
		}
	}
	return map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": sandboxTeamID, "domain": "sandbox"},
		"user":       map[string]any{"id": slackUserID(user), "username": user, "name": user, "team_id": sandboxTeamID},
		"api_app_id": sandboxAppID,
		"token":      "sandbox-verification-token",
		"container": map[string]any{
			"type": "message", "message_ts": msg.TS, "channel_id": msg.Channel,
			"is_ephemeral": false,
		},
		"trigger_id": fmt.Sprintf("%d.%s", now.UnixNano(), randomHex(16)),
		"channel":    map[string]any{"id": msg.Channel, "name": slackChannelName(ch.Name)},
		"message": map[string]any{
			"type": "message", "bot_id": sandboxBotID, "user": "U0SANDBOXBOT",
			"text": msg.Text, "ts": msg.TS, "blocks": msg.Blocks,
		},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": "https://hooks.slack.com" + fake.EscapedPath(),
		"actions":      []any{action},
	}
}

// slackUserID makes a stable, Slack-looking user ID for a name.
func slackUserID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "U" + strings.ToUpper(hex.EncodeToString(sum[:5]))
}

// slackChannelName turns a channel's display name into a Slack-style one.
func slackChannelName(name string) string {
	name = strings.ToLower(strings.Join(strings.Fields(name), "-"))
	if name == "" {
		return "sandbox"
	}
	return name
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
