package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chatnotify/chatnotify/internal/httpjson"
	"github.com/chatnotify/chatnotify/teams"
)

// ErrUnauthenticated is returned by an [Authorizer] for a request that
// carries no valid credentials. The settings API answers it with 401.
var ErrUnauthenticated = errors.New("notify: unauthenticated")

// Caller is the authenticated user of a settings API request, as the
// host's [Authorizer] identifies them.
type Caller struct {
	// OrgID is the organisation the caller acts for. Every read and
	// write of the request is scoped to it.
	OrgID string
	// Admin reports whether the caller holds the admin role, which every
	// settings endpoint requires.
	Admin bool
}

// Authorizer identifies the caller of r, typically from a session cookie
// or a bearer token. It returns [ErrUnauthenticated] (possibly wrapped) for
// a request without valid credentials, which is answered with 401; any
// other error is answered with 500 and logged, never shown. A caller whose
// Admin field is false is answered with 403.
//
// The settings handler calls the Authorizer before it reads the request
// body.
type Authorizer func(r *http.Request) (Caller, error)

// SettingsOptions configures [NewSettingsHandler]. A nil *SettingsOptions
// and the zero value both mean all defaults.
type SettingsOptions struct {
	// Logger receives one record per change and per failure. Secrets are
	// never logged. Defaults to discarding everything.
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; larger ones are answered with
	// 413. Defaults to 64 KiB.
	MaxBodyBytes int64
	// TestTimeout bounds one test notification. Defaults to 15 seconds.
	TestTimeout time.Duration
	// ProductName is the host's product, named in the text of a test
	// notification whose request names none: "This is a test
	// notification from <ProductName>." At most 100 characters of
	// printable text. Defaults to "": the text is then "This is a test
	// notification."
	ProductName string
	// Deliveries is the deliveries log the host's Dispatcher writes
	// (DispatcherOptions.Deliveries). With it, each channel read carries
	// its [Health], and the deliveries and retry endpoints exist.
	// Defaults to nil: channels have no health, and those endpoints
	// answer 404 like any unknown path.
	Deliveries DeliveryStore
	// Retry queues a failed delivery again, for
	// POST …/{channel_id}/deliveries/{delivery_id}/retry: set it to the
	// host's [Dispatcher.Retry]. The handler
	// calls it only for a delivery of the caller's organisation and of
	// the channel in the URL whose Status is "failed". It should change
	// the delivery to "pending" and queue its job atomically, so that
	// concurrent retries queue it once, and return an error wrapping
	// [ErrConflict] when the delivery is no longer failed (answered with
	// 409) or [ErrNotFound] when it is gone (404); any other error is
	// answered with 500 and logged. Defaults to nil: the retry endpoint
	// answers 501. It is used only with Deliveries.
	Retry func(ctx context.Context, d Delivery) error
	// Conversations is where the host's Teams bot records the
	// conversations it was added to (approval.TeamsBotOptions has the
	// same field). With it, GET …/teams/conversations lists the
	// caller's organisation's conversations, so that an admin picks the
	// conversation of a Teams bot channel rather than copying its IDs.
	// Defaults to nil: that path answers 404 like any unknown path.
	Conversations teams.ConversationStore
}

// Defaults and limits of the settings API.
const (
	defaultTestTimeout   = 15 * time.Second
	maxTestMessageLength = 4000 // characters
	maxPathIDLength      = 128
	settingsBase         = "/v1/settings/notifications"
	defaultDeliveryPage  = 20  // deliveries per page without ?limit
	maxDeliveryPage      = 100 // the largest ?limit
)

// defaultTestText is the default text of a test notification.
func defaultTestText(product string) string {
	if product == "" {
		return "This is a test notification."
	}
	return "This is a test notification from " + product + "."
}

// NewSettingsHandler returns the settings API for notification channels:
//
//	GET    /v1/settings/notifications                    list the caller's channels
//	POST   /v1/settings/notifications                    create a channel
//	GET    /v1/settings/notifications/{channel_id}       read a channel
//	PUT    /v1/settings/notifications/{channel_id}       replace a channel
//	DELETE /v1/settings/notifications/{channel_id}       delete a channel
//	POST   /v1/settings/notifications/{channel_id}/test  send a test notification
//
// and, with SettingsOptions.Conversations, the conversations the host's
// Teams bot can post to (each with the service_url, conversation_id and
// tenant_id of a Teams bot channel's config):
//
//	GET    /v1/settings/notifications/teams/conversations
//
// and, with SettingsOptions.Deliveries, the deliveries log:
//
//	GET    /v1/settings/notifications/{channel_id}/deliveries                      recent deliveries
//	POST   /v1/settings/notifications/{channel_id}/deliveries/{delivery_id}/retry  queue a failed one again
//
// in which case each channel read also carries its [Health]. Without
// it those two paths are unknown (404) and channels have no health;
// without SettingsOptions.Retry the retry endpoint answers 501.
//
// Every endpoint requires an admin, as identified by auth, and sees only
// the caller's organisation. Channels are read from and written to store,
// and test notifications are delivered through sender. Channels are
// validated as [Channel.Validate] does, under sender's URL policy: a
// loopback webhook URL is accepted exactly when the sender was made with
// SenderOptions.AllowLoopbackURLs, so that what the API stores is what
// the sender will send to, and a refusal names that setting. Mounted at
// the root of a server the handler answers exactly these paths; to mount
// it under a prefix, wrap it in [http.StripPrefix]. The package
// documentation describes request bodies, responses and status codes.
//
// store, sender and auth are required; opts may be nil.
func NewSettingsHandler(store ChannelStore, sender *PlatformSender, auth Authorizer, opts *SettingsOptions) (http.Handler, error) {
	if sender == nil {
		return nil, errors.New("notify: NewSettingsHandler: sender is nil")
	}
	return newSettingsHandler(store, sender, auth, opts)
}

func newSettingsHandler(store ChannelStore, sender transport, auth Authorizer, opts *SettingsOptions) (http.Handler, error) {
	switch {
	case store == nil:
		return nil, errors.New("notify: NewSettingsHandler: store is nil")
	case sender == nil:
		return nil, errors.New("notify: NewSettingsHandler: sender is nil")
	case auth == nil:
		return nil, errors.New("notify: NewSettingsHandler: auth is nil")
	}
	if opts == nil {
		opts = &SettingsOptions{}
	}
	product := strings.TrimSpace(opts.ProductName)
	switch {
	case opts.MaxBodyBytes < 0:
		return nil, errors.New("notify: NewSettingsHandler: MaxBodyBytes is negative")
	case opts.TestTimeout < 0:
		return nil, errors.New("notify: NewSettingsHandler: TestTimeout is negative")
	case product != "" && checkName(product) != nil:
		return nil, fmt.Errorf("notify: NewSettingsHandler: ProductName must be at most %d characters of printable text", maxNameLength)
	}
	h := &settingsHandler{
		store:         store,
		sender:        sender,
		auth:          auth,
		log:           opts.Logger,
		maxBody:       opts.MaxBodyBytes,
		allowLoopback: sender.allowLoopback(),
		testTimeout:   opts.TestTimeout,
		testMessage:   defaultTestText(product),
		deliveries:    opts.Deliveries,
		retry:         opts.Retry,
		conversations: opts.Conversations,
		mux:           http.NewServeMux(),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody == 0 {
		h.maxBody = httpjson.DefaultMaxBody
	}
	if h.testTimeout == 0 {
		h.testTimeout = defaultTestTimeout
	}

	const one = settingsBase + "/{channel_id}"
	h.mux.HandleFunc("GET "+settingsBase, h.admin(h.list))
	h.mux.HandleFunc("POST "+settingsBase, h.admin(h.create))
	h.mux.HandleFunc(settingsBase, methodNotAllowed("GET, HEAD, POST"))
	h.mux.HandleFunc("GET "+one, h.admin(h.get))
	h.mux.HandleFunc("PUT "+one, h.admin(h.update))
	h.mux.HandleFunc("DELETE "+one, h.admin(h.delete))
	h.mux.HandleFunc(one, methodNotAllowed("GET, HEAD, PUT, DELETE"))
	h.mux.HandleFunc("POST "+one+"/test", h.admin(h.test))
	h.mux.HandleFunc(one+"/test", methodNotAllowed("POST"))
	if h.conversations != nil {
		const convs = settingsBase + "/teams/conversations"
		h.mux.HandleFunc("GET "+convs, h.admin(h.listConversations))
		h.mux.HandleFunc(convs, methodNotAllowed("GET, HEAD"))
	}
	if h.deliveries != nil {
		const retry = one + "/deliveries/{delivery_id}/retry"
		h.mux.HandleFunc("GET "+one+"/deliveries", h.admin(h.listDeliveries))
		h.mux.HandleFunc(one+"/deliveries", methodNotAllowed("GET, HEAD"))
		h.mux.HandleFunc("POST "+retry, h.admin(h.retryDelivery))
		h.mux.HandleFunc(retry, methodNotAllowed("POST"))
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.WriteError(w, http.StatusNotFound, "not found")
	})
	return h, nil
}

type settingsHandler struct {
	store         ChannelStore
	sender        transport
	auth          Authorizer
	log           *slog.Logger
	maxBody       int64
	allowLoopback bool // the sender's URL policy
	testTimeout   time.Duration
	testMessage   string
	deliveries    DeliveryStore // nil without SettingsOptions.Deliveries
	retry         func(ctx context.Context, d Delivery) error
	conversations teams.ConversationStore // nil without SettingsOptions.Conversations
	mux           *http.ServeMux
}

func (h *settingsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		httpjson.WriteError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// channelBody is the request body of create and update. It mirrors the
// JSON of a [Channel] so that a client can send back what it read: the
// read-only fields id, created_at, updated_at and health are accepted
// and ignored (id must name the channel being updated). There is deliberately no org
// field: unknown fields are rejected.
type channelBody struct {
	ID        string          `json:"id"`
	Type      ChannelType     `json:"channel_type"`
	Name      string          `json:"name"`
	Config    configBody      `json:"config"`
	Events    []EventType     `json:"events"`
	Enabled   *bool           `json:"enabled"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
	Health    json.RawMessage `json:"health"`
}

// configBody is the config object of a channelBody. The secrets are
// pointers to tell an omitted field from an empty one.
type configBody struct {
	BotToken       *string `json:"bot_token"`
	ChannelID      string  `json:"channel_id"`
	WebhookURL     *string `json:"webhook_url"`
	ServiceURL     string  `json:"service_url"`
	ConversationID string  `json:"conversation_id"`
	TenantID       string  `json:"tenant_id"`
}

// config returns the non-secret part of b.
func (b configBody) config() ChannelConfig {
	return ChannelConfig{ChannelID: b.ChannelID, ServiceURL: b.ServiceURL, ConversationID: b.ConversationID, TenantID: b.TenantID}
}

// hasReference reports whether b names a Teams conversation.
func (b configBody) hasReference() bool {
	return strings.TrimSpace(b.ServiceURL) != "" || strings.TrimSpace(b.ConversationID) != "" || strings.TrimSpace(b.TenantID) != ""
}

type channelList struct {
	Channels []channelView `json:"channels"`
}

// channelView is a channel as the settings API shows it when reading:
// secrets masked, with its health when the store keeps deliveries.
type channelView struct {
	Channel
	Health *Health `json:"health,omitempty"`
}

type conversationList struct {
	Conversations []teams.Conversation `json:"conversations"`
}

type deliveryList struct {
	Deliveries []Delivery `json:"deliveries"`
	// Next is the cursor of the next page; absent on the last one.
	Next string `json:"next,omitempty"`
}

type testBody struct {
	Message string `json:"message"`
}

type testResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// admin authenticates and authorises a request before next sees it (and
// before anything reads its body).
func (h *settingsHandler) admin(next func(http.ResponseWriter, *http.Request, Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := h.auth(r)
		switch {
		case errors.Is(err, ErrUnauthenticated):
			httpjson.WriteError(w, http.StatusUnauthorized, "authentication required")
		case err != nil:
			h.log.ErrorContext(r.Context(), "notify settings: authorizer failed", "method", r.Method, "path", r.URL.Path, "error", scrub(err.Error()))
			httpjson.WriteError(w, http.StatusInternalServerError, "internal error")
		case !c.Admin:
			httpjson.WriteError(w, http.StatusForbidden, "the admin role is required")
		case c.OrgID == "":
			h.log.ErrorContext(r.Context(), "notify settings: authorizer returned an admin without an organisation", "method", r.Method, "path", r.URL.Path)
			httpjson.WriteError(w, http.StatusInternalServerError, "internal error")
		default:
			next(w, r, c)
		}
	}
}

func (h *settingsHandler) list(w http.ResponseWriter, r *http.Request, c Caller) {
	chs, err := h.store.ListChannels(r.Context(), c.OrgID)
	if err != nil {
		h.fail(w, r, c, "list", err)
		return
	}
	out := channelList{Channels: make([]channelView, 0, len(chs))}
	for _, ch := range chs {
		if ch.OrgID != "" && ch.OrgID != c.OrgID { // a store bug must not leak another organisation's channel
			continue
		}
		out.Channels = append(out.Channels, h.viewWithHealth(r, c, ch))
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (h *settingsHandler) get(w http.ResponseWriter, r *http.Request, c Caller) {
	ch, ok := h.channel(w, r, c, "get")
	if !ok {
		return
	}
	httpjson.Write(w, http.StatusOK, h.viewWithHealth(r, c, ch))
}

// channel returns the channel of the request path, or answers 404 (or
// 500 for a store failure) and returns false.
func (h *settingsHandler) channel(w http.ResponseWriter, r *http.Request, c Caller, op string) (Channel, bool) {
	id, ok := pathID(w, r)
	if !ok {
		return Channel{}, false
	}
	ch, err := h.store.GetChannel(r.Context(), c.OrgID, id)
	if err == nil && ((ch.OrgID != "" && ch.OrgID != c.OrgID) || ch.ID != id) { // a store bug must not expose another channel
		err = ErrNotFound
	}
	if err != nil {
		h.fail(w, r, c, op, err)
		return Channel{}, false
	}
	return ch, true
}

// viewWithHealth returns ch as the API shows it, with its health when the
// store keeps deliveries. A channel whose health cannot be read is shown
// without one (the error is logged): the channel matters more.
func (h *settingsHandler) viewWithHealth(r *http.Request, c Caller, ch Channel) channelView {
	v := channelView{Channel: view(ch)}
	if h.deliveries == nil {
		return v
	}
	hl, err := h.deliveries.ChannelHealth(r.Context(), c.OrgID, ch.ID)
	if err != nil {
		h.log.ErrorContext(r.Context(), "notify settings: reading a channel's health failed", "org_id", c.OrgID, "channel_id", ch.ID, "error", scrub(err.Error(), ch.Config))
		return v
	}
	hl.LastError = scrub(hl.LastError, ch.Config)
	v.Health = &hl
	return v
}

// listConversations answers the Teams conversations the host's bot was
// added to, of the caller's organisation only, as the store lists them
// (newest first, removed ones included and marked).
func (h *settingsHandler) listConversations(w http.ResponseWriter, r *http.Request, c Caller) {
	cs, err := h.conversations.ListConversations(r.Context(), c.OrgID)
	if err != nil {
		h.fail(w, r, c, "list conversations", err)
		return
	}
	out := conversationList{Conversations: make([]teams.Conversation, 0, len(cs))}
	for _, conv := range cs {
		if conv.OrgID != "" && conv.OrgID != c.OrgID { // a store bug must not leak another organisation's conversation
			continue
		}
		out.Conversations = append(out.Conversations, conv)
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (h *settingsHandler) listDeliveries(w http.ResponseWriter, r *http.Request, c Caller) {
	limit, before, err := pageQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, c, "list deliveries", err)
		return
	}
	ch, ok := h.channel(w, r, c, "list deliveries")
	if !ok {
		return
	}
	ds, err := h.deliveries.ListDeliveries(r.Context(), c.OrgID, ch.ID, before, limit+1)
	if err != nil {
		h.fail(w, r, c, "list deliveries", err, ch.Config)
		return
	}
	out := deliveryList{Deliveries: make([]Delivery, 0, min(len(ds), limit))}
	for _, d := range ds {
		if (d.OrgID != "" && d.OrgID != c.OrgID) || d.ChannelID != ch.ID { // a store bug must not leak another's delivery
			continue
		}
		if len(out.Deliveries) == limit {
			out.Next = cursor(out.Deliveries[limit-1])
			break
		}
		out.Deliveries = append(out.Deliveries, viewDelivery(d, ch))
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (h *settingsHandler) retryDelivery(w http.ResponseWriter, r *http.Request, c Caller) {
	ch, ok := h.channel(w, r, c, "retry")
	if !ok {
		return
	}
	id := r.PathValue("delivery_id")
	if !validPathID(id) {
		httpjson.WriteError(w, http.StatusNotFound, "delivery not found")
		return
	}
	if h.retry == nil {
		httpjson.WriteError(w, http.StatusNotImplemented, "retrying deliveries is not enabled on this server")
		return
	}
	d, err := h.deliveries.GetDelivery(r.Context(), c.OrgID, id)
	if err == nil && ((d.OrgID != "" && d.OrgID != c.OrgID) || d.ChannelID != ch.ID || d.ID != id) {
		err = ErrNotFound
	}
	switch {
	case errors.Is(err, ErrNotFound):
		httpjson.WriteError(w, http.StatusNotFound, "delivery not found")
		return
	case err != nil:
		h.fail(w, r, c, "retry", err, ch.Config)
		return
	case d.Status != deliveryFailed:
		httpjson.WriteError(w, http.StatusConflict, "only a failed delivery can be retried; this one is "+strconv.Quote(d.Status))
		return
	}
	d.OrgID = c.OrgID
	err = h.retry(r.Context(), d)
	switch {
	case errors.Is(err, ErrConflict):
		httpjson.WriteError(w, http.StatusConflict, "the delivery is no longer failed")
		return
	case errors.Is(err, ErrNotFound):
		httpjson.WriteError(w, http.StatusNotFound, "delivery not found")
		return
	case err != nil:
		h.fail(w, r, c, "retry", err, ch.Config)
		return
	}
	h.log.InfoContext(r.Context(), "delivery queued again", "org_id", c.OrgID, "channel_id", ch.ID, "delivery_id", d.ID)
	if now, err := h.deliveries.GetDelivery(r.Context(), c.OrgID, d.ID); err == nil && now.ChannelID == ch.ID && now.ID == d.ID {
		d = now
	}
	httpjson.Write(w, http.StatusAccepted, viewDelivery(d, ch))
}

// pageQuery reads ?limit and ?before of a deliveries list.
func pageQuery(q url.Values) (limit int, before Delivery, err error) {
	limit = defaultDeliveryPage
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxDeliveryPage || len(q["limit"]) > 1 {
			return 0, Delivery{}, httpjson.Errorf(http.StatusBadRequest, "limit must be an integer from 1 to %d", maxDeliveryPage)
		}
		limit = n
	}
	if q.Has("before") {
		if before, err = parseCursor(q.Get("before")); err != nil || len(q["before"]) > 1 {
			return 0, Delivery{}, badCursor()
		}
	}
	return limit, before, nil
}

// badCursor is the error of a ?before that is not a cursor of this API.
func badCursor() error {
	return httpjson.Errorf(http.StatusBadRequest, "before must be the next cursor of a previous page")
}

// cursor returns the opaque position of d in a deliveries list: its
// CreatedAt (in microseconds) and ID, base64url-encoded.
func cursor(d Delivery) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(d.CreatedAt.UnixMicro(), 10) + ":" + d.ID))
}

// parseCursor is the inverse of cursor.
func parseCursor(s string) (Delivery, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Delivery{}, badCursor()
	}
	micros, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || n <= 0 || !validPathID(id) {
		return Delivery{}, badCursor()
	}
	return Delivery{ID: id, CreatedAt: time.UnixMicro(n).UTC()}, nil
}

// viewDelivery returns d as the API shows it. Reason and Code are
// secret-free by contract; they are scrubbed of ch's secrets, and of any
// token or URL path, anyway.
func viewDelivery(d Delivery, ch Channel) Delivery {
	d.Reason = scrub(d.Reason, ch.Config)
	d.Code = scrub(d.Code, ch.Config)
	d.Retry = nil
	return d
}

func (h *settingsHandler) create(w http.ResponseWriter, r *http.Request, c Caller) {
	var in channelBody
	if err := httpjson.Decode(w, r, h.maxBody, &in, false); err != nil {
		h.fail(w, r, c, "create", err)
		return
	}
	ch := Channel{
		OrgID:   c.OrgID,
		Type:    in.Type,
		Name:    in.Name,
		Events:  in.Events,
		Enabled: in.Enabled == nil || *in.Enabled,
		Config:  in.Config.config(),
	}
	var err error
	if ch.Config.BotToken, err = mergeSecret(secretToken, in.Config.BotToken, "", false); err == nil {
		ch.Config.WebhookURL, err = mergeSecret(secretURL, in.Config.WebhookURL, "", false)
	}
	if err == nil {
		ch, err = validate(ch, h.allowLoopback)
	}
	if err != nil {
		h.fail(w, r, c, "create", err)
		return
	}
	created, err := h.store.CreateChannel(r.Context(), ch)
	if err != nil {
		h.fail(w, r, c, "create", err, ch.Config)
		return
	}
	h.log.InfoContext(r.Context(), "notification channel created", "org_id", c.OrgID, "channel_id", created.ID, "channel_type", created.Type)
	w.Header().Set("Location", "notifications/"+url.PathEscape(created.ID))
	httpjson.Write(w, http.StatusCreated, view(created))
}

func (h *settingsHandler) update(w http.ResponseWriter, r *http.Request, c Caller) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in channelBody
	if err := httpjson.Decode(w, r, h.maxBody, &in, false); err != nil {
		h.fail(w, r, c, "update", err)
		return
	}
	if in.ID != "" && in.ID != id {
		httpjson.WriteError(w, http.StatusBadRequest, "id in the body does not match the channel in the URL")
		return
	}
	old, err := h.store.GetChannel(r.Context(), c.OrgID, id)
	if err == nil && old.OrgID != "" && old.OrgID != c.OrgID { // a store bug must not expose another organisation's channel
		err = ErrNotFound
	}
	if err != nil {
		h.fail(w, r, c, "update", err)
		return
	}
	// Secrets are kept only within one platform: a Slack token or URL is
	// never carried into a Teams channel or the other way round.
	keep := in.Type == old.Type
	ch := Channel{
		ID:      id,
		OrgID:   c.OrgID,
		Type:    in.Type,
		Name:    in.Name,
		Events:  in.Events,
		Enabled: old.Enabled,
		Config:  in.Config.config(),
	}
	if in.Enabled != nil {
		ch.Enabled = *in.Enabled
	}
	// A Teams channel switched to a conversation reference drops its
	// stored webhook URL unless the body sends one.
	keepHook := keep && !(in.Type == Teams && in.Config.hasReference())
	if ch.Config.BotToken, err = mergeSecret(secretToken, in.Config.BotToken, old.Config.BotToken, keep); err == nil {
		ch.Config.WebhookURL, err = mergeSecret(secretURL, in.Config.WebhookURL, old.Config.WebhookURL, keepHook)
	}
	if err == nil {
		ch, err = validate(ch, h.allowLoopback)
	}
	if err != nil {
		h.fail(w, r, c, "update", err, old.Config)
		return
	}
	updated, err := h.store.UpdateChannel(r.Context(), ch)
	if err == nil && updated.Type != ch.Type {
		err = fmt.Errorf("notify: store did not persist the channel as given (channel_type %q, want %q)", updated.Type, ch.Type)
	}
	if err != nil {
		h.fail(w, r, c, "update", err, old.Config, ch.Config)
		return
	}
	h.log.InfoContext(r.Context(), "notification channel updated", "org_id", c.OrgID, "channel_id", id, "channel_type", updated.Type)
	httpjson.Write(w, http.StatusOK, view(updated))
}

func (h *settingsHandler) delete(w http.ResponseWriter, r *http.Request, c Caller) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := h.store.DeleteChannel(r.Context(), c.OrgID, id); err != nil {
		h.fail(w, r, c, "delete", err)
		return
	}
	h.log.InfoContext(r.Context(), "notification channel deleted", "org_id", c.OrgID, "channel_id", id)
	w.WriteHeader(http.StatusNoContent)
}

func (h *settingsHandler) test(w http.ResponseWriter, r *http.Request, c Caller) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in testBody
	if err := httpjson.Decode(w, r, h.maxBody, &in, true); err != nil {
		h.fail(w, r, c, "test", err)
		return
	}
	msg := strings.TrimSpace(in.Message)
	if msg == "" {
		msg = h.testMessage
	}
	if utf8.RuneCountInString(msg) > maxTestMessageLength {
		httpjson.WriteError(w, http.StatusBadRequest, fmt.Sprintf("message must be at most %d characters", maxTestMessageLength))
		return
	}
	ch, err := h.store.GetChannel(r.Context(), c.OrgID, id)
	if err == nil && ch.OrgID != "" && ch.OrgID != c.OrgID {
		err = ErrNotFound
	}
	if err != nil {
		h.fail(w, r, c, "test", err)
		return
	}
	// A channel that reached the store by another path, or under a looser
	// policy, is never handed to the sender.
	if _, err := validate(ch, h.allowLoopback); err != nil {
		reason := "the channel's settings are not valid: " + err.Error()
		if !errors.Is(err, errLoopbackRefused) { // the fix is the server's setting, not the channel
			reason += "; update the channel and try again"
		}
		httpjson.Write(w, http.StatusConflict, testResult{Error: reason})
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.testTimeout)
	defer cancel()
	_, err = h.sender.Send(ctx, ch, TestMessage{Text: msg})
	if err == nil {
		h.log.InfoContext(r.Context(), "test notification sent", "org_id", c.OrgID, "channel_id", id, "channel_type", ch.Type)
		httpjson.Write(w, http.StatusOK, testResult{OK: true})
		return
	}
	reason := "the test notification could not be delivered"
	var derr *DeliveryError
	switch {
	case errors.As(err, &derr) && strings.TrimSpace(derr.Reason) != "":
		reason = redact(derr.Reason, ch.Config)
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		reason = fmt.Sprintf("%s did not answer within %s: try again later", platformName(ch.Type), h.testTimeout)
	}
	h.log.WarnContext(r.Context(), "test notification failed", "org_id", c.OrgID, "channel_id", id, "channel_type", ch.Type, "error", scrub(err.Error(), ch.Config))
	httpjson.Write(w, http.StatusBadGateway, testResult{Error: reason})
}

// fail answers a request that failed with err. It is the one place where
// errors become statuses: client errors keep their message, store
// sentinels get fixed texts, and anything else is logged, with the secrets
// of the configs involved redacted, and answered with a bare 500.
func (h *settingsHandler) fail(w http.ResponseWriter, r *http.Request, c Caller, op string, err error, cfgs ...ChannelConfig) {
	var herr *httpjson.Error
	var verr *validationError
	switch {
	case errors.As(err, &herr):
		httpjson.WriteError(w, herr.Status, herr.Message)
	case errors.Is(err, ErrNotFound):
		httpjson.WriteError(w, http.StatusNotFound, "notification channel not found")
	case errors.Is(err, ErrConflict):
		httpjson.WriteError(w, http.StatusConflict, "a channel with this name already exists")
	case errors.As(err, &verr):
		httpjson.WriteError(w, http.StatusBadRequest, verr.Message)
	default:
		h.log.ErrorContext(r.Context(), "notify settings: "+op+" failed", "org_id", c.OrgID, "channel_id", r.PathValue("channel_id"), "error", scrub(err.Error(), cfgs...))
		httpjson.WriteError(w, http.StatusInternalServerError, "internal error")
	}
}

// pathID returns the channel ID of the request path, answering 404 for one
// that no store could hold.
func pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("channel_id")
	if !validPathID(id) {
		httpjson.WriteError(w, http.StatusNotFound, "notification channel not found")
		return "", false
	}
	return id, true
}

// validPathID reports whether id could name a stored record.
func validPathID(id string) bool {
	return id != "" && len(id) <= maxPathIDLength && utf8.ValidString(id) && !strings.ContainsFunc(id, unicode.IsControl)
}

// view returns ch as the settings API shows it: secrets masked.
func view(ch Channel) Channel {
	ch.Config = ch.Config.Masked()
	if ch.Events == nil {
		ch.Events = []EventType{}
	}
	return ch
}

type secretKind struct {
	field string // JSON path
	what  string // for messages
	mask  func(string) string
}

var (
	secretToken = secretKind{"config.bot_token", "bot token", maskToken}
	secretURL   = secretKind{"config.webhook_url", "webhook URL", maskURL}
)

// mergeSecret returns the secret to store given the value a client sent
// (nil when omitted) and the stored one. With keep set, an omitted value
// and the stored value's exact mask keep the stored value; without it they
// mean no value. An empty string clears the secret. Any other masked-looking
// value is rejected: it can only be a stale or edited mask.
func mergeSecret(k secretKind, in *string, stored string, keep bool) (string, error) {
	if in == nil {
		if keep {
			return stored, nil
		}
		return "", nil
	}
	v := strings.TrimSpace(*in)
	if !isMasked(v) {
		return v, nil
	}
	if keep && stored != "" && v == k.mask(stored) {
		return stored, nil
	}
	if keep {
		return "", invalid(k.field, "%s looks masked (it contains %q) but is not the stored %s's mask: send the full %s, or omit it to keep the stored one", k.field, maskMark, k.what, k.what)
	}
	return "", invalid(k.field, "%s looks masked (it contains %q): send the full %s", k.field, maskMark, k.what)
}

var (
	// slackTokenPattern matches Slack tokens of every kind (xoxb-, xoxp-,
	// xoxa-, ...).
	slackTokenPattern = regexp.MustCompile(`xox[a-z]-[A-Za-z0-9-]+`)
	// urlPattern matches absolute http(s) URLs as errors print them.
	urlPattern = regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>]+`)
)

// scrub prepares an error text for a log line: it redacts the secrets of
// cfgs (see [redact]), then any other Slack token, and the path and query
// of any URL, since a webhook URL of another channel or one the handler
// never saw (a store quoting a row) is a secret too.
func scrub(s string, cfgs ...ChannelConfig) string {
	s = redact(s, cfgs...)
	s = slackTokenPattern.ReplaceAllString(s, redacted)
	return urlPattern.ReplaceAllStringFunc(s, func(m string) string {
		u, err := url.Parse(m)
		if err != nil || u.Host == "" {
			return redacted
		}
		return u.Scheme + "://" + u.Host + "/" + redacted
	})
}

const redacted = "[REDACTED]"

// redact replaces every secret of cfgs found in s, in any form an error
// is likely to print it (as given, re-encoded by net/url, or just its path
// and query), with "[REDACTED]".
func redact(s string, cfgs ...ChannelConfig) string {
	var secrets []string
	add := func(v string) {
		if len(v) >= 4 {
			secrets = append(secrets, v)
		}
	}
	for _, c := range cfgs {
		add(c.BotToken)
		if c.WebhookURL == "" {
			continue
		}
		add(c.WebhookURL)
		if u, err := url.Parse(c.WebhookURL); err == nil {
			add(u.String())
			add(u.Redacted())
			add(u.EscapedPath())
			add(u.Path)
			add(u.RawQuery)
		}
	}
	// Longest first, so a URL is replaced whole before its path is.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

func platformName(t ChannelType) string {
	if t == Teams {
		return "Microsoft Teams"
	}
	return "Slack"
}
