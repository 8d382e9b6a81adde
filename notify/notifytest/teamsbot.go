package notifytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The fake Teams bot: a Microsoft Entra token endpoint that issues the
// bot's tokens by client credentials, and a Bot Connector (the
// serviceUrl of the bot's conversations) that posts and replaces cards
// with them.

// The fake bot's identity. The client secret is made per Server.
const (
	botAppID  = "00000000-0000-4000-8000-00000000b0ad"
	botTenant = "00000000-0000-4000-8000-0000000e27a1"
	// botScope is the one scope a Bot Connector token is issued for.
	botScope = "https://api.botframework.com/.default"
	// defaultTokenLifetime is Entra's usual expires_in.
	defaultTokenLifetime = time.Hour
)

// The methods of [Request.Method] for the bot: a token request, a post
// (Bot Framework's "Send to conversation") and a replacement ("Update
// activity").
const (
	methodToken  = "token"
	methodSend   = "sendToConversation"
	methodUpdate = "updateActivity"
)

// botState is the fake bot's state, under Server.mu.
type botState struct {
	secret   string
	lifetime time.Duration
	tokens   map[string]time.Time // access token → expiry
	removed  map[string]bool      // conversation IDs the bot was removed from
	cards    map[string]*Message  // conversation + " " + activity ID
}

func newBotState() botState {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return botState{
		secret:   "notifytest~" + hex.EncodeToString(b),
		lifetime: defaultTokenLifetime,
		tokens:   map[string]time.Time{},
		removed:  map[string]bool{},
		cards:    map[string]*Message{},
	}
}

// TeamsBot is the fake's Teams bot, as a host's test configures
// chatnotify with it: AppID, AppSecret and Tenant for
// notify.SenderOptions.TeamsAppID, TeamsAppSecret and TeamsAppTenant,
// TokenURL for TeamsTokenURL, and ServiceURL (with Tenant) for the
// conversation reference of a Teams bot channel.
type TeamsBot struct {
	// AppID is the bot's app ID, and AppSecret its client secret,
	// different for each Server.
	AppID, AppSecret string
	// Tenant is the bot's Microsoft Entra tenant, and the TenantID of
	// the conversations on ServiceURL.
	Tenant string
	// TokenURL is the fake Microsoft Entra token endpoint of Tenant. It
	// takes what Entra documents for client credentials: a form-encoded
	// POST with grant_type client_credentials, client_id and
	// client_secret in the form (HTTP Basic is refused) and scope
	// https://api.botframework.com/.default. It answers
	// {"token_type":"Bearer","expires_in":…,"access_token":…}, or an
	// error in Entra's shape ({"error":"invalid_client",
	// "error_description":"AADSTS7000215: …"}). Each request is recorded
	// with the Method "token".
	TokenURL string
	// ServiceURL is the serviceUrl of the fake Bot Connector, with a
	// region path as Teams gives it ("http://127.0.0.1:…/amer/"); any
	// conversation ID works on it. It serves
	//
	//	POST …/v3/conversations/{conversationId}/activities               → 201 {"id": "<new>"}
	//	PUT  …/v3/conversations/{conversationId}/activities/{activityId}  → 200 {"id": "<activityId>"}
	//
	// (recorded with the Methods "sendToConversation" and
	// "updateActivity") for message activities carrying Adaptive Cards,
	// with a bearer token from TokenURL that has not expired (401
	// otherwise). A PUT replaces the card in [Server.Messages] (404
	// ActivityNotFoundInConversation for an unknown activity). Errors are
	// in the Bot Connector's shape, {"error":{"code":…,"message":…}}.
	ServiceURL string
}

// TeamsBot returns the fake's Teams bot.
func (s *Server) TeamsBot() TeamsBot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return TeamsBot{AppID: botAppID, AppSecret: s.bot.secret, Tenant: botTenant,
		TokenURL: s.srv.URL + "/login/" + botTenant + "/oauth2/v2.0/token", ServiceURL: s.srv.URL + "/amer/"}
}

// RemoveBot makes every later post to or update in conversationID answer
// as the Bot Connector does once the bot was removed from the
// conversation: 403 with the error code BotNotInConversationRoster.
func (s *Server) RemoveBot(conversationID string) {
	s.mu.Lock()
	s.bot.removed[conversationID] = true
	s.mu.Unlock()
}

// SetTokenLifetime sets the expires_in of the tokens issued from then on,
// and how long the Bot Connector accepts them. Defaults to one hour.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	s.bot.lifetime = d
	s.mu.Unlock()
}

// entraError writes an error in Entra's shape.
func entraError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{}})
}

// entraStatus is the status Entra answers an error code with.
func entraStatus(code string) int {
	if code == "invalid_client" {
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}

// entraToken serves the token endpoint.
func (s *Server) entraToken(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	req := Request{Method: methodToken, Path: r.URL.Path, Body: body}
	fail := func(status int, code, desc string) {
		req.Answer, req.Error = status, code
		s.record(req)
		entraError(w, status, code, desc)
	}
	if ft, faulty, latency := s.fault(methodToken); faulty {
		if !wait(r, ft.Delay) {
			return
		}
		status := ft.status(entraStatus)
		code := ft.Error
		if code == "" {
			code = "temporarily_unavailable"
		}
		ft.setRetryAfter(w)
		fail(status, code, fmt.Sprintf("AADSTS90000: fake fault %d.", status))
		return
	} else if !wait(r, latency) {
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil:
		fail(http.StatusRequestEntityTooLarge, "invalid_request", "AADSTS90014: The request body is too large.")
		return
	case r.PathValue("tenant") != botTenant:
		fail(http.StatusBadRequest, "invalid_request", "AADSTS90002: Tenant not found.")
		return
	case ct != "application/x-www-form-urlencoded":
		fail(http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must be form-encoded.")
		return
	}
	if _, _, basic := r.BasicAuth(); basic {
		// Entra reads the client secret from the form only.
		fail(http.StatusUnauthorized, "invalid_client", "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	f, perr := parseForm(body)
	s.mu.Lock()
	secret, lifetime := s.bot.secret, s.bot.lifetime
	s.mu.Unlock()
	switch {
	case perr != nil:
		fail(http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body could not be read.")
	case f.Get("grant_type") != "client_credentials":
		fail(http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
	case f.Get("client_id") != botAppID:
		fail(http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application was not found in the directory.")
	case f.Get("client_secret") == "":
		fail(http.StatusUnauthorized, "invalid_client", "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	case f.Get("client_secret") != secret:
		fail(http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
	case f.Get("scope") != botScope:
		fail(http.StatusBadRequest, "invalid_scope", "AADSTS70011: The provided value for the input parameter 'scope' is not valid.")
	default:
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		tok := "fake-entra-" + hex.EncodeToString(b)
		s.mu.Lock()
		s.bot.tokens[tok] = time.Now().Add(lifetime)
		s.mu.Unlock()
		req.Answer = http.StatusOK
		s.record(req)
		secs := int64(lifetime / time.Second)
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
	}
}

// validToken reports whether tok was issued by the fake Entra and has
// not expired.
func (s *Server) validToken(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.bot.tokens[tok]
	return ok && time.Now().Before(exp)
}

// connectorError writes an error in the Bot Connector's shape.
func connectorError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

// connector serves the Bot Connector's send and update.
func (s *Server) connector(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	req := Request{Method: methodSend, Path: r.URL.EscapedPath(), Channel: r.PathValue("conv"), ActivityID: r.PathValue("id"), Body: body}
	if r.Method == http.MethodPut {
		req.Method = methodUpdate
	}
	fail := func(status int, code, msg string) {
		req.Answer, req.Error = status, code
		s.record(req)
		connectorError(w, status, code, msg)
	}
	if ft, faulty, latency := s.fault(req.Method); faulty {
		if !wait(r, ft.Delay) {
			return
		}
		status := ft.status(func(string) int { return http.StatusBadRequest })
		code := ft.Error
		if code == "" {
			code = strings.ReplaceAll(http.StatusText(status), " ", "")
		}
		ft.setRetryAfter(w)
		fail(status, code, fmt.Sprintf("fake fault %d", status))
		return
	} else if !wait(r, latency) {
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.validToken(tok) {
		req.Answer, req.Error = http.StatusUnauthorized, "Unauthorized"
		s.record(req)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Authorization has been denied for this request."})
		return
	}
	var msg teamsMessage
	switch {
	case err != nil:
		fail(http.StatusRequestEntityTooLarge, "MessageSizeTooBig", "Message size too big")
		return
	case json.Unmarshal(body, &msg) != nil || msg.Type != "message":
		fail(http.StatusBadRequest, "BadArgument", "Activity must be a JSON message activity")
		return
	}
	s.mu.Lock()
	removed := s.bot.removed[req.Channel]
	s.mu.Unlock()
	if removed {
		fail(http.StatusForbidden, "BotNotInConversationRoster", "The bot is not part of the conversation roster.")
		return
	}
	if req.Method == methodUpdate {
		if !s.replaceCard(req.Channel, req.ActivityID, body) {
			fail(http.StatusNotFound, "ActivityNotFoundInConversation", "The activity was not found in the conversation.")
			return
		}
		req.Answer = http.StatusOK
		s.record(req)
		writeJSON(w, http.StatusOK, map[string]any{"id": req.ActivityID})
		return
	}
	s.mu.Lock()
	s.seq++
	req.ActivityID = fmt.Sprintf("17000000%05d", s.seq) // Teams' IDs look like "1575667808184"
	s.mu.Unlock()
	req.Answer = http.StatusCreated
	s.record(req)
	m := &Message{Channel: req.Channel, ActivityID: req.ActivityID, body: body, Posted: time.Now()}
	s.mu.Lock()
	s.messages = append(s.messages, m)
	s.bot.cards[req.Channel+" "+req.ActivityID] = m
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"id": req.ActivityID})
}

// replaceCard replaces the activity id of conversation conv with body,
// reporting whether it was there.
func (s *Server) replaceCard(conv, id string, body []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.bot.cards[conv+" "+id]
	if m == nil {
		return false
	}
	m.body = body
	m.Edits = append(m.Edits, methodUpdate)
	return true
}

// parseForm decodes a form-encoded body.
func parseForm(body []byte) (url.Values, error) { return url.ParseQuery(string(body)) }
