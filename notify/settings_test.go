package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/memstore"
)

const (
	orgA        = "acme"
	orgB        = "globex"
	tokenAdminA = "admin-a"
	tokenAdminB = "admin-b"
	tokenViewer = "viewer-a"
	tokenBroken = "broken"
	tokenNoOrg  = "no-org"

	base = "/v1/settings/notifications"

	// authorizerSecret appears only in the authorizer's error.
	authorizerSecret = "session-db-password-hunter2"
)

// secrets lists every secret the tests store; no response and no log line
// may contain any of them, nor their distinctive parts.
var secrets = []string{
	testBotToken, testSlackHook, testTeamsHook, testWorkflow,
	"AbCdEfGhIjKlMnOpQrSt", "XXXXXXXXXXXXXXXX", "T00000000/B00000000", "1111@2222", "SIGSIGSIG",
	otherBotToken, otherSlackHook, "ZZZZZZZZZZZZ",
}

const (
	otherBotToken  = "xoxb-9999999999-9999999999999-ZZZZZZZZZZZZZZZZZZZZZZZZ"
	otherSlackHook = "https://hooks.slack.com/services/T11111111/B11111111/ZZZZZZZZZZZZZZZZ"
)

// authorize is the test Authorizer: a bearer token names the caller.
func authorize(r *http.Request) (notify.Caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return notify.Caller{}, notify.ErrUnauthenticated
	}
	switch tok {
	case tokenAdminA:
		return notify.Caller{OrgID: orgA, Admin: true}, nil
	case tokenAdminB:
		return notify.Caller{OrgID: orgB, Admin: true}, nil
	case tokenViewer:
		return notify.Caller{OrgID: orgA}, nil
	case tokenNoOrg:
		return notify.Caller{Admin: true}, nil
	case tokenBroken:
		return notify.Caller{}, errors.New("session lookup failed: " + authorizerSecret)
	}
	return notify.Caller{}, fmt.Errorf("bad token: %w", notify.ErrUnauthenticated)
}

// sendCall records one call of the fake sender.
type sendCall struct {
	ch          notify.Channel
	ev          notify.Event
	hasDeadline bool
}

// fakeSender records calls and answers with fn (success when fn is nil).
type fakeSender struct {
	mu    sync.Mutex
	calls []sendCall
	fn    func(ctx context.Context, ch notify.Channel, ev notify.Event) (notify.Receipt, error)
}

func (f *fakeSender) Send(ctx context.Context, ch notify.Channel, ev notify.Event) (notify.Receipt, error) {
	_, hasDeadline := ctx.Deadline()
	f.mu.Lock()
	f.calls = append(f.calls, sendCall{ch, ev, hasDeadline})
	fn := f.fn
	f.mu.Unlock()
	if fn == nil {
		return notify.Receipt{}, nil
	}
	return fn(ctx, ch, ev)
}

func (f *fakeSender) Calls() []sendCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sendCall(nil), f.calls...)
}

type fixture struct {
	t        *testing.T
	store    notify.ChannelStore
	mem      *memstore.Store
	sender   *fakeSender
	loopback bool // the sender's URL policy
	logs     *syncbuf.Buffer
	h        http.Handler
}

type fixtureOption func(*fixture, *notify.SettingsOptions)

func withStore(wrap func(*memstore.Store) notify.ChannelStore) fixtureOption {
	return func(f *fixture, _ *notify.SettingsOptions) { f.store = wrap(f.mem) }
}

func withOptions(set func(*notify.SettingsOptions)) fixtureOption {
	return func(_ *fixture, o *notify.SettingsOptions) { set(o) }
}

// withLoopback gives the fixture a sender that admits loopback URLs.
func withLoopback() fixtureOption {
	return func(f *fixture, _ *notify.SettingsOptions) { f.loopback = true }
}

func newFixture(t *testing.T, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{t: t, mem: memstore.New(), sender: &fakeSender{}, logs: &syncbuf.Buffer{}}
	f.store = f.mem
	so := &notify.SettingsOptions{
		Logger:     slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Deliveries: f.mem.Deliveries(),
	}
	for _, o := range opts {
		o(f, so)
	}
	h, err := notify.NewTestSettingsHandler(f.store, notify.TestSender{Post: f.sender.Send, Loopback: f.loopback}, authorize, so)
	require.NoError(t, err)
	f.h = h
	t.Cleanup(func() {
		logs := f.logs.String()
		for _, sec := range secrets {
			assert.NotContains(t, logs, sec, "a secret in the log")
		}
	})
	return f
}

// seed stores ch for orgID directly, bypassing the API.
func (f *fixture) seed(orgID string, ch notify.Channel) notify.Channel {
	f.t.Helper()
	ch.OrgID = orgID
	if ch.Events == nil {
		ch.Events = notify.AllEvents()
	}
	got, err := f.mem.CreateChannel(f.t.Context(), ch)
	require.NoError(f.t, err)
	return got
}

func (f *fixture) stored(orgID, id string) notify.Channel {
	f.t.Helper()
	ch, err := f.mem.GetChannel(f.t.Context(), orgID, id)
	require.NoError(f.t, err)
	return ch
}

func (f *fixture) storedAll(orgID string) []notify.Channel {
	f.t.Helper()
	chs, err := f.mem.ListChannels(f.t.Context(), orgID)
	require.NoError(f.t, err)
	return chs
}

// do serves one request with the given bearer token ("" for none) and
// a JSON body ("" for none).
func (f *fixture) do(method, path, token, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	return serve(f.t, f.h, method, path, token, body)
}

func serve(t *testing.T, h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequestWithContext(t.Context(), method, path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assertNoSecrets(t, "response", w.Body.String())
	for k, vs := range w.Header() {
		assertNoSecrets(t, "header "+k, strings.Join(vs, " "))
	}
	return w
}

func assertNoSecrets(t *testing.T, where, s string) {
	t.Helper()
	for _, sec := range secrets {
		assert.NotContains(t, s, sec, "a secret in the %s", where)
	}
	assert.NotContains(t, s, authorizerSecret, "the authorizer's error in the %s", where)
}

// errorBody decodes {"error": "..."} and checks the response is JSON.
func errorBody(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), "body %q", w.Body.String())
	msg, ok := body["error"].(string)
	require.True(t, ok, "no error string in %s", w.Body.String())
	return msg
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	var v T
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v), "body %q", w.Body.String())
	return v
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// ---------------------------------------------------------------------
// Construction

func TestNewSettingsHandlerArguments(t *testing.T) {
	store := memstore.New()
	sender, err := notify.NewSender(nil)
	require.NoError(t, err)
	tests := []struct {
		name   string
		store  notify.ChannelStore
		sender *notify.PlatformSender
		auth   notify.Authorizer
		opts   *notify.SettingsOptions
		ok     bool
	}{
		{"all set, nil options", store, sender, authorize, nil, true},
		{"zero options", store, sender, authorize, &notify.SettingsOptions{}, true},
		{"a product name", store, sender, authorize, &notify.SettingsOptions{ProductName: "Acme Guard"}, true},
		{"nil store", nil, sender, authorize, nil, false},
		{"nil sender", store, nil, authorize, nil, false},
		{"nil authorizer", store, sender, nil, nil, false},
		{"negative MaxBodyBytes", store, sender, authorize, &notify.SettingsOptions{MaxBodyBytes: -1}, false},
		{"negative TestTimeout", store, sender, authorize, &notify.SettingsOptions{TestTimeout: -time.Second}, false},
		{"product name too long", store, sender, authorize, &notify.SettingsOptions{ProductName: strings.Repeat("a", 101)}, false},
		{"product name not printable", store, sender, authorize, &notify.SettingsOptions{ProductName: "Acme\nGuard"}, false},
		{"product name with a bidi override", store, sender, authorize, &notify.SettingsOptions{ProductName: "Acme\u202eGuard"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := notify.NewSettingsHandler(tt.store, tt.sender, tt.auth, tt.opts)
			if tt.ok {
				require.NoError(t, err)
				assert.NotNil(t, h)
			} else {
				assert.Error(t, err)
				assert.Nil(t, h)
			}
		})
	}
}

// ---------------------------------------------------------------------
// Authentication and authorisation

// unreadable is a request body that fails the test when read.
type unreadable struct{ t *testing.T }

func (u unreadable) Read([]byte) (int, error) {
	u.t.Error("the request body was read before the caller was authorised")
	return 0, io.EOF
}

func TestSettingsAuth(t *testing.T) {
	f := newFixture(t)
	ch := f.seed(orgA, slackBot())
	endpoints := []struct{ method, path string }{
		{http.MethodGet, base},
		{http.MethodPost, base},
		{http.MethodPut, base + "/" + ch.ID},
		{http.MethodDelete, base + "/" + ch.ID},
		{http.MethodPost, base + "/" + ch.ID + "/test"},
		{http.MethodGet, base + "/" + ch.ID},
		{http.MethodGet, base + "/" + ch.ID + "/deliveries"},
		{http.MethodGet, base + "/" + ch.ID + "/deliveries?limit=0&before=bad"},
		{http.MethodPost, base + "/" + ch.ID + "/deliveries/d-1/retry"},
	}
	callers := []struct {
		name       string
		header     string
		wantStatus int
		wantMsg    string
	}{
		{"no credentials", "", http.StatusUnauthorized, "authentication required"},
		{"unknown token", "Bearer nope", http.StatusUnauthorized, "authentication required"},
		{"other scheme", "Basic YWRtaW46YWRtaW4=", http.StatusUnauthorized, "authentication required"},
		{"non-admin", "Bearer " + tokenViewer, http.StatusForbidden, "the admin role is required"},
		{"authorizer fails", "Bearer " + tokenBroken, http.StatusInternalServerError, "internal error"},
		{"admin without org", "Bearer " + tokenNoOrg, http.StatusInternalServerError, "internal error"},
	}
	for _, ep := range endpoints {
		for _, c := range callers {
			t.Run(ep.method+" "+strings.ReplaceAll(ep.path, ch.ID, "{id}")+"/"+c.name, func(t *testing.T) {
				r := httptest.NewRequestWithContext(t.Context(), ep.method, ep.path, unreadable{t})
				r.Header.Set("Content-Type", "application/json")
				if c.header != "" {
					r.Header.Set("Authorization", c.header)
				}
				w := httptest.NewRecorder()
				f.h.ServeHTTP(w, r)
				assert.Equal(t, c.wantStatus, w.Code)
				assert.Equal(t, c.wantMsg, errorBody(t, w))
				assertNoSecrets(t, "response", w.Body.String())
			})
		}
	}
	// Nothing changed, nothing was sent.
	assert.Equal(t, ch, f.stored(orgA, ch.ID))
	assert.Len(t, f.storedAll(orgA), 1)
	assert.Empty(t, f.sender.Calls())
	// The authorizer's failure was logged (without its secret detail: the
	// cleanup checks that), the 401s and 403s were not errors.
	logs := f.logs.String()
	assert.Contains(t, logs, "authorizer failed")
	assert.Contains(t, logs, "authorizer returned an admin without an organisation")
}

// ---------------------------------------------------------------------
// Routing

func TestSettingsRouting(t *testing.T) {
	f := newFixture(t)
	ch := f.seed(orgA, slackBot())
	one := base + "/" + ch.ID
	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{http.MethodGet, "/", 404, ""},
		{http.MethodGet, "/v1/settings", 404, ""},
		{http.MethodGet, "/v1/settings/notification", 404, ""},
		{http.MethodGet, base + "/", 404, ""},
		{http.MethodPost, base + "/", 404, ""},
		{http.MethodPut, one + "/", 404, ""},
		{http.MethodPost, one + "/test/", 404, ""},
		{http.MethodPost, one + "/other", 404, ""},
		{http.MethodGet, "/api" + base, 404, ""},
		{http.MethodGet, "/V1/settings/notifications", 404, ""},

		{http.MethodPatch, base, 405, "GET, HEAD, POST"},
		{http.MethodDelete, base, 405, "GET, HEAD, POST"},
		{http.MethodPut, base, 405, "GET, HEAD, POST"},
		{http.MethodPost, one, 405, "GET, HEAD, PUT, DELETE"},
		{http.MethodPatch, one, 405, "GET, HEAD, PUT, DELETE"},
		{http.MethodGet, one + "/test", 405, "POST"},
		{http.MethodPut, one + "/test", 405, "POST"},
		{http.MethodDelete, one + "/test", 405, "POST"},
		{http.MethodPost, one + "/deliveries", 405, "GET, HEAD"},
		{http.MethodDelete, one + "/deliveries", 405, "GET, HEAD"},
		{http.MethodGet, one + "/deliveries/d-1/retry", 405, "POST"},
		{http.MethodPut, one + "/deliveries/d-1/retry", 405, "POST"},
		{http.MethodGet, one + "/deliveries/", 404, ""},
		{http.MethodGet, one + "/deliveries/d-1", 404, ""},
		{http.MethodPost, one + "/deliveries/d-1/retry/", 404, ""},
	}
	for _, tt := range tests {
		for _, token := range []string{tokenAdminA, ""} {
			t.Run(fmt.Sprintf("%s %s token=%q", tt.method, tt.path, token), func(t *testing.T) {
				w := f.do(tt.method, tt.path, token, "")
				assert.Equal(t, tt.wantStatus, w.Code)
				assert.Equal(t, tt.wantAllow, w.Header().Get("Allow"))
				want := "not found"
				if tt.wantStatus == 405 {
					want = "method not allowed"
				}
				assert.Equal(t, want, errorBody(t, w))
			})
		}
	}
	assert.Equal(t, ch, f.stored(orgA, ch.ID), "no route changed the channel")
}

// The full lifecycle through a host router, under a prefix.
func exerciseLifecycle(t *testing.T, f *fixture, host http.Handler, prefix string) {
	t.Helper()
	// Create.
	w := serve(t, host, http.MethodPost, prefix+base, tokenAdminA, mustJSON(t, map[string]any{
		"channel_type": "slack", "name": "Alerts", "config": map[string]string{"webhook_url": testSlackHook},
	}))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	created := decode[notify.Channel](t, w)
	loc, err := url.Parse(w.Header().Get("Location"))
	require.NoError(t, err)
	self := (&url.URL{Path: prefix + base}).ResolveReference(loc).Path
	assert.Equal(t, prefix+base+"/"+created.ID, self, "Location resolves to the channel under the prefix")

	// List.
	w = serve(t, host, http.MethodGet, prefix+base, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	list := decode[struct{ Channels []notify.Channel }](t, w)
	require.Len(t, list.Channels, 1)
	assert.Equal(t, created.ID, list.Channels[0].ID)

	// Update through the Location.
	w = serve(t, host, http.MethodPut, self, tokenAdminA, mustJSON(t, map[string]any{
		"channel_type": "slack", "name": "Renamed", "config": map[string]string{},
	}))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "Renamed", decode[notify.Channel](t, w).Name)
	assert.Equal(t, testSlackHook, f.stored(orgA, created.ID).Config.WebhookURL)

	// Test.
	w = serve(t, host, http.MethodPost, self+"/test", tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"ok":true}`, w.Body.String())

	// Read it back, with its health, and its (empty) deliveries.
	w = serve(t, host, http.MethodGet, self, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "Renamed", decode[notify.Channel](t, w).Name)
	assert.Contains(t, w.Body.String(), `"health":{"pending":0,"failed":0}`)
	w = serve(t, host, http.MethodGet, self+"/deliveries", tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"deliveries":[]}`, w.Body.String())

	// Wrong method and unknown path are answered by the settings handler.
	w = serve(t, host, http.MethodPatch, self, tokenAdminA, "")
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "GET, HEAD, PUT, DELETE", w.Header().Get("Allow"))
	w = serve(t, host, http.MethodGet, prefix+"/v1/other", tokenAdminA, "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Equal(t, "not found", errorBody(t, w))

	// Delete.
	w = serve(t, host, http.MethodDelete, self, tokenAdminA, "")
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	assert.Empty(t, f.storedAll(orgA))
}

func TestSettingsAtRoot(t *testing.T) {
	f := newFixture(t)
	exerciseLifecycle(t, f, f.h, "")
}

func TestSettingsUnderStripPrefix(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", f.h))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "host 404", http.StatusNotFound) })
	exerciseLifecycle(t, f, mux, "/api")

	w := serve(t, mux, http.MethodGet, base, tokenAdminA, "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Equal(t, "host 404\n", w.Body.String(), "without the prefix the host answers")
}

func TestSettingsUnderChi(t *testing.T) {
	f := newFixture(t)
	r := chi.NewRouter()
	r.Mount("/api", http.StripPrefix("/api", f.h))
	exerciseLifecycle(t, f, r, "/api")

	w := serve(t, r, http.MethodGet, base, tokenAdminA, "")
	assert.Equal(t, http.StatusNotFound, w.Code, "without the prefix chi answers")
}

// ---------------------------------------------------------------------
// Create

func TestSettingsCreate(t *testing.T) {
	tests := []struct {
		name       string
		body       map[string]any
		wantConfig notify.ChannelConfig // as stored
		wantMasked notify.ChannelConfig // as answered
		wantEvents []notify.EventType
		wantOn     bool
	}{
		{
			name: "slack bot token (spec example)",
			body: map[string]any{
				"channel_type": "slack", "name": "Security Alerts",
				"config": map[string]string{"bot_token": testBotToken, "channel_id": testSlackChan},
				"events": []string{"approval_request", "drift_alert", "agent_status"},
			},
			wantConfig: notify.ChannelConfig{BotToken: testBotToken, ChannelID: testSlackChan},
			wantMasked: notify.ChannelConfig{BotToken: "xoxb-…UvWx", ChannelID: testSlackChan},
			wantEvents: notify.AllEvents(), wantOn: true,
		},
		{
			name: "slack webhook (spec example)",
			body: map[string]any{
				"channel_type": "slack", "name": "Alerts Webhook",
				"config": map[string]string{"webhook_url": testSlackHook},
				"events": []string{"drift_alert", "agent_status"},
			},
			wantConfig: notify.ChannelConfig{WebhookURL: testSlackHook},
			wantMasked: notify.ChannelConfig{WebhookURL: "https://hooks.slack.com/…"},
			wantEvents: []notify.EventType{"drift_alert", "agent_status"}, wantOn: true,
		},
		{
			name: "teams webhook (spec example)",
			body: map[string]any{
				"channel_type": "teams", "name": "Teams Security Alerts",
				"config": map[string]string{"webhook_url": testTeamsHook},
				"events": []string{"approval_request", "drift_alert", "agent_status"},
			},
			wantConfig: notify.ChannelConfig{WebhookURL: testTeamsHook},
			wantMasked: notify.ChannelConfig{WebhookURL: "https://contoso.webhook.office.com/…"},
			wantEvents: notify.AllEvents(), wantOn: true,
		},
		{
			name: "teams workflows, events omitted, disabled",
			body: map[string]any{
				"channel_type": "teams", "name": "Workflow",
				"config":  map[string]string{"webhook_url": testWorkflow},
				"enabled": false,
			},
			wantConfig: notify.ChannelConfig{WebhookURL: testWorkflow},
			wantMasked: notify.ChannelConfig{WebhookURL: "https://prod-12.westus.logic.azure.com:443/…"},
			wantEvents: notify.AllEvents(), wantOn: false,
		},
		{
			name: "empty events, duplicates, read-only fields ignored, secrets trimmed",
			body: map[string]any{
				"id": "client-chosen", "created_at": "2001-01-01T00:00:00Z", "updated_at": "x",
				"channel_type": "slack", "name": "  Dup  ",
				"config":  map[string]string{"bot_token": " " + testBotToken + " ", "channel_id": testSlackChan, "webhook_url": testSlackHook},
				"events":  []string{"agent_status", "agent_status"},
				"enabled": true,
			},
			wantConfig: notify.ChannelConfig{BotToken: testBotToken, ChannelID: testSlackChan, WebhookURL: testSlackHook},
			wantMasked: notify.ChannelConfig{BotToken: "xoxb-…UvWx", ChannelID: testSlackChan, WebhookURL: "https://hooks.slack.com/…"},
			wantEvents: []notify.EventType{"agent_status"}, wantOn: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.do(http.MethodPost, base, tokenAdminA, mustJSON(t, tt.body))
			require.Equal(t, http.StatusCreated, w.Code, w.Body.String())

			var raw map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &raw))
			assert.NotContains(t, raw, "org_id")
			assert.NotContains(t, raw, "OrgID")
			got := decode[notify.Channel](t, w)
			assert.NotEmpty(t, got.ID)
			assert.NotEqual(t, "client-chosen", got.ID)
			assert.Equal(t, "notifications/"+got.ID, w.Header().Get("Location"))
			assert.Equal(t, tt.wantMasked, got.Config)
			assert.Equal(t, tt.wantEvents, got.Events)
			assert.Equal(t, tt.wantOn, got.Enabled)
			assert.False(t, got.CreatedAt.IsZero())
			assert.NotEqual(t, 2001, got.CreatedAt.Year())

			st := f.stored(orgA, got.ID)
			assert.Equal(t, orgA, st.OrgID)
			assert.Equal(t, tt.wantConfig, st.Config)
			assert.Equal(t, tt.wantEvents, st.Events)
			assert.Equal(t, tt.wantOn, st.Enabled)
			assert.Equal(t, strings.TrimSpace(tt.body["name"].(string)), st.Name)
			assert.Equal(t, notify.ChannelType(tt.body["channel_type"].(string)), st.Type)
			assert.Empty(t, f.storedAll(orgB))
			assert.Contains(t, f.logs.String(), "notification channel created")
		})
	}
}

func TestSettingsCreateValidation(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantMsg string
	}{
		{"channel_type missing", `{"name":"a","config":{"webhook_url":"` + testSlackHook + `"}}`, msgChannelType},
		{"channel_type unknown", `{"channel_type":"discord","name":"a","config":{"webhook_url":"` + testSlackHook + `"}}`, msgChannelType},
		{"channel_type null", `{"channel_type":null,"name":"a"}`, msgChannelType},
		{"slack without config", `{"channel_type":"slack","name":"a"}`, msgSlackConfig},
		{"slack with bot_token only", `{"channel_type":"slack","name":"a","config":{"bot_token":"` + testBotToken + `"}}`, msgSlackConfig},
		{"slack with channel_id only", `{"channel_type":"slack","name":"a","config":{"channel_id":"C0123456789"}}`, msgSlackConfig},
		{"teams without webhook", `{"channel_type":"teams","name":"a","config":{}}`, msgTeamsURL},
		{"teams with bot fields", `{"channel_type":"teams","name":"a","config":{"bot_token":"` + testBotToken + `","channel_id":"C0123456789","webhook_url":"` + testTeamsHook + `"}}`, msgSlackOnly},
		{"name missing", `{"channel_type":"slack","config":{"webhook_url":"` + testSlackHook + `"}}`, "name is required"},
		{"name too long", `{"channel_type":"slack","name":"` + strings.Repeat("n", 101) + `","config":{"webhook_url":"` + testSlackHook + `"}}`, "name must be at most 100 characters"},
		{"name with control", `{"channel_type":"slack","name":"a\u0007b","config":{"webhook_url":"` + testSlackHook + `"}}`, "name must be printable text"},
		{"unknown event", `{"channel_type":"slack","name":"a","config":{"webhook_url":"` + testSlackHook + `"},"events":["drift_alert","deployed"]}`,
			`unknown event type "deployed": use approval_request, drift_alert or agent_status`},
		{"bad bot token", `{"channel_type":"slack","name":"a","config":{"bot_token":"xoxp-123-456","channel_id":"C0123456789"}}`, msgBotToken},
		{"bad channel id", `{"channel_type":"slack","name":"a","config":{"bot_token":"` + testBotToken + `","channel_id":"general"}}`, msgChannelID},
		{"bypass URL", `{"channel_type":"teams","name":"a","config":{"webhook_url":"https://evil.example/x.webhook.office.com/"}}`, msgTeamsBadURL},
		{"userinfo URL", `{"channel_type":"slack","name":"a","config":{"webhook_url":"https://hooks.slack.com@evil.example/"}}`, msgSlackURL},
		{"loopback URL by default", `{"channel_type":"slack","name":"a","config":{"webhook_url":"http://127.0.0.1:9/hook"}}`, msgLoopback},
		{"masked webhook URL", `{"channel_type":"slack","name":"a","config":{"webhook_url":"https://hooks.slack.com/…"}}`,
			`config.webhook_url looks masked (it contains "…"): send the full webhook URL`},
		{"masked bot token", `{"channel_type":"slack","name":"a","config":{"bot_token":"xoxb-…UvWx","channel_id":"C0123456789"}}`,
			`config.bot_token looks masked (it contains "…"): send the full bot token`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.do(http.MethodPost, base, tokenAdminA, tt.body)
			assert.Equal(t, http.StatusBadRequest, w.Code)
			assert.Equal(t, tt.wantMsg, errorBody(t, w))
			assert.Empty(t, f.storedAll(orgA))
		})
	}
}

// The one loopback setting is the sender's: the settings API validates
// with the policy of the sender it is given, and a refusal names the
// setting rather than blaming the channel.
func TestSettingsLoopbackURLsFollowTheSender(t *testing.T) {
	handler := func(t *testing.T, loopback bool) http.Handler {
		sender, err := notify.NewSender(&notify.SenderOptions{AllowLoopbackURLs: loopback})
		require.NoError(t, err)
		h, err := notify.NewSettingsHandler(memstore.New(), sender, authorize, nil)
		require.NoError(t, err)
		return h
	}
	local := `{"channel_type":"teams","name":"local","config":{"webhook_url":"http://127.0.0.1:9/hook"}}`

	t.Run("with SenderOptions.AllowLoopbackURLs", func(t *testing.T) {
		h := handler(t, true)
		w := serve(t, h, http.MethodPost, base, tokenAdminA, local)
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		assert.Equal(t, "http://127.0.0.1:9/…", decode[notify.Channel](t, w).Config.WebhookURL)
		w = serve(t, h, http.MethodPost, base, tokenAdminA, `{"channel_type":"teams","name":"remote","config":{"webhook_url":"http://10.0.0.1/hook"}}`)
		assert.Equal(t, http.StatusBadRequest, w.Code, "only loopback addresses")
		assert.Equal(t, msgTeamsBadURL, errorBody(t, w))
	})
	t.Run("without it", func(t *testing.T) {
		w := serve(t, handler(t, false), http.MethodPost, base, tokenAdminA, local)
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Equal(t, msgLoopback, errorBody(t, w))
	})
	t.Run("a stored loopback channel, tested with the setting off, names the setting", func(t *testing.T) {
		f := newFixture(t)
		seeded := f.seed(orgA, with(teamsHook(), func(c *notify.Channel) { c.Config.WebhookURL = "http://127.0.0.1:9/hook" }))
		w := f.do(http.MethodPost, base+"/"+seeded.ID+"/test", tokenAdminA, "")
		assert.Equal(t, http.StatusConflict, w.Code)
		assert.JSONEq(t, `{"ok":false,"error":"the channel's settings are not valid: `+msgLoopback+`"}`, w.Body.String())
		assert.NotContains(t, w.Body.String(), "update the channel")
		assert.Empty(t, f.sender.Calls())
	})
	t.Run("the test sender's policy is used the same way", func(t *testing.T) {
		f := newFixture(t, withLoopback())
		w := f.do(http.MethodPost, base, tokenAdminA, local)
		assert.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	})
}

// Channel names are checked as sent: invalid UTF-8 (which encoding/json
// turns into U+FFFD), bidirectional controls and zero-width characters
// are refused.
func TestSettingsChannelNameHygiene(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ name, want string }{
		{"\"a\xffb\"", "name must be valid UTF-8"},
		{"\"a\\ud800b\"", "name must be valid UTF-8"},
		{"\"a\\ufffdb\"", "name must be valid UTF-8"},
		{"\"invoice\\u202efdp.exe\"", "name must not contain invisible or bidirectional control characters (U+202E)"},
		{"\"a\\u2067b\"", "name must not contain invisible or bidirectional control characters (U+2067)"},
		{"\"Sec\\u200burity\"", "name must not contain invisible or bidirectional control characters (U+200B)"},
		{"\"\\ufeffalerts\"", "name must not contain invisible or bidirectional control characters (U+FEFF)"},
	} {
		w := f.do(http.MethodPost, base, tokenAdminA, `{"channel_type":"teams","name":`+c.name+`,"config":{"webhook_url":"`+testTeamsHook+`"}}`)
		assert.Equal(t, http.StatusBadRequest, w.Code, c.name)
		assert.Equal(t, c.want, errorBody(t, w), c.name)
	}
	assert.Empty(t, f.storedAll(orgA))
}

func TestSettingsCreateConflict(t *testing.T) {
	f := newFixture(t)
	f.seed(orgA, slackHook())
	w := f.do(http.MethodPost, base, tokenAdminA, mustJSON(t, map[string]any{
		"channel_type": "teams", "name": slackHook().Name, "config": map[string]string{"webhook_url": testTeamsHook},
	}))
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Equal(t, "a channel with this name already exists", errorBody(t, w))
	assert.Len(t, f.storedAll(orgA), 1)

	// The same name in another organisation is fine.
	w = f.do(http.MethodPost, base, tokenAdminB, mustJSON(t, map[string]any{
		"channel_type": "teams", "name": slackHook().Name, "config": map[string]string{"webhook_url": testTeamsHook},
	}))
	assert.Equal(t, http.StatusCreated, w.Code)
}

// ---------------------------------------------------------------------
// Request bodies

func TestSettingsBodyErrors(t *testing.T) {
	valid := `{"channel_type":"slack","name":"a","config":{"webhook_url":"` + testSlackHook + `"}}`
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantMsg     string
	}{
		{"too large", "application/json", `{"channel_type":"slack","name":"` + strings.Repeat("a", 2048) + `"}`, 413, "request body is larger than 1024 bytes"},
		{"text/plain", "text/plain", valid, 415, "Content-Type must be application/json"},
		{"form", "application/x-www-form-urlencoded", "name=a", 415, "Content-Type must be application/json"},
		{"empty", "application/json", "", 400, "request body must be a JSON object"},
		{"null", "application/json", "null", 400, "request body must be a JSON object"},
		{"array", "application/json", "[" + valid + "]", 400, "request body must be a JSON object"},
		{"malformed", "application/json", `{"channel_type":"slack",}`, 400, "malformed JSON at byte 25"},
		{"truncated", "application/json", `{"channel_type":"slack"`, 400, "malformed JSON: unexpected end of input"},
		{"unknown field", "application/json", `{"channel_type":"slack","nmae":"a"}`, 400, `unknown field "nmae"`},
		{"unknown config field", "application/json", `{"channel_type":"slack","name":"a","config":{"token":"x"}}`, 400, `unknown field "token"`},
		{"trailing object", "application/json", valid + `{}`, 400, "request body must hold a single JSON object"},
		{"trailing brace", "application/json", valid + `}`, 400, "request body must hold a single JSON object"},
		{"enabled as string", "application/json", `{"channel_type":"slack","name":"a","enabled":"yes"}`, 400, `field "enabled" must be true or false`},
		{"events as string", "application/json", `{"channel_type":"slack","name":"a","events":"drift_alert"}`, 400, `field "events" must be an array`},
		{"config as string", "application/json", `{"channel_type":"slack","name":"a","config":"` + testSlackHook + `"}`, 400, `field "config" must be an object`},
		{"bot_token as number", "application/json", `{"channel_type":"slack","name":"a","config":{"bot_token":1}}`, 400, `field "config.bot_token" must be a string`},
	}
	newF := func(t *testing.T) *fixture {
		return newFixture(t, withOptions(func(o *notify.SettingsOptions) { o.MaxBodyBytes = 1024 }))
	}
	for _, tt := range tests {
		for _, ep := range []string{"create", "update"} {
			t.Run(ep+"/"+tt.name, func(t *testing.T) {
				f := newF(t)
				seeded := f.seed(orgA, slackHook())
				method, path := http.MethodPost, base
				if ep == "update" {
					method, path = http.MethodPut, base+"/"+seeded.ID
				}
				r := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(tt.body))
				r.Header.Set("Content-Type", tt.contentType)
				r.Header.Set("Authorization", "Bearer "+tokenAdminA)
				w := httptest.NewRecorder()
				f.h.ServeHTTP(w, r)
				assert.Equal(t, tt.wantStatus, w.Code)
				msg := errorBody(t, w)
				assert.Equal(t, tt.wantMsg, msg)
				assertNoSecrets(t, "response", w.Body.String())
				for _, goType := range []string{"notify.", "channelBody", "configBody", "*string", "*bool", "EventType", "ChannelType"} {
					assert.NotContains(t, msg, goType)
				}
				assert.Equal(t, []notify.Channel{seeded}, f.storedAll(orgA), "nothing was written")
			})
		}
	}
}

func TestSettingsMissingContentTypeIsAccepted(t *testing.T) {
	f := newFixture(t)
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, base,
		strings.NewReader(`{"channel_type":"slack","name":"a","config":{"webhook_url":"`+testSlackHook+`"}}`))
	r.Header.Set("Authorization", "Bearer "+tokenAdminA)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusCreated, w.Code, w.Body.String())
}

func TestSettingsOrgIDIsNotClientSettable(t *testing.T) {
	f := newFixture(t)
	seeded := f.seed(orgA, slackHook())
	for _, key := range []string{"org_id", "OrgID", "orgId", "org"} {
		t.Run(key, func(t *testing.T) {
			body := `{"` + key + `":"` + orgB + `","channel_type":"slack","name":"Sneaky","config":{"webhook_url":"` + otherSlackHook + `"}}`
			w := f.do(http.MethodPost, base, tokenAdminA, body)
			assert.Equal(t, http.StatusBadRequest, w.Code)
			assert.Equal(t, `unknown field "`+key+`"`, errorBody(t, w))

			w = f.do(http.MethodPut, base+"/"+seeded.ID, tokenAdminA, body)
			assert.Equal(t, http.StatusBadRequest, w.Code)
			assert.Equal(t, `unknown field "`+key+`"`, errorBody(t, w))
		})
	}
	assert.Empty(t, f.storedAll(orgB), "nothing was written into the other organisation")
	assert.Equal(t, []notify.Channel{seeded}, f.storedAll(orgA))
}

// ---------------------------------------------------------------------
// List

func TestSettingsList(t *testing.T) {
	f := newFixture(t)
	w := f.do(http.MethodGet, base, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"channels":[]}`, w.Body.String())

	a1 := f.seed(orgA, with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook }))
	f.seed(orgB, with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = otherBotToken; c.Config.WebhookURL = otherSlackHook }))
	a2 := f.seed(orgA, with(teamsHook(), func(c *notify.Channel) { c.Enabled = false }))
	f.seed(orgB, with(teamsHook(), func(c *notify.Channel) { c.Name = "globex only" }))

	w = f.do(http.MethodGet, base, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code)
	got := decode[struct {
		Channels []notify.Channel `json:"channels"`
	}](t, w)
	a1.OrgID, a2.OrgID = "", ""
	a1.Config, a2.Config = a1.Config.Masked(), a2.Config.Masked()
	assert.ElementsMatch(t, []notify.Channel{a1, a2}, got.Channels, "own channels only, masked")
	assert.NotContains(t, w.Body.String(), "globex only")
	assert.NotContains(t, w.Body.String(), "org_id")

	w = f.do(http.MethodGet, base, tokenAdminB, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Len(t, decode[struct{ Channels []notify.Channel }](t, w).Channels, 2)
	assert.NotContains(t, w.Body.String(), a1.ID)
}

// ---------------------------------------------------------------------
// Update

func TestSettingsUpdate(t *testing.T) {
	botAndHook := with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook })
	tests := []struct {
		name       string
		seed       notify.Channel
		body       func(id string) map[string]any
		wantStatus int
		wantMsg    string         // for errors
		want       notify.Channel // as stored, for successes (ID, OrgID and times ignored)
	}{
		{
			name: "rename with secrets omitted keeps them",
			seed: botAndHook,
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "Renamed", "config": map[string]string{"channel_id": testSlackChan}}
			},
			wantStatus: 200,
			want:       with(botAndHook, func(c *notify.Channel) { c.Name = "Renamed" }),
		},
		{
			name: "masked secrets sent back keep them",
			seed: botAndHook,
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "Renamed", "config": map[string]string{
					"bot_token": "xoxb-…UvWx", "channel_id": testSlackChan, "webhook_url": "https://hooks.slack.com/…"}}
			},
			wantStatus: 200,
			want:       with(botAndHook, func(c *notify.Channel) { c.Name = "Renamed" }),
		},
		{
			name: "new secrets replace",
			seed: botAndHook,
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{
					"bot_token": otherBotToken, "channel_id": "C9999999999", "webhook_url": otherSlackHook}}
			},
			wantStatus: 200,
			want: with(botAndHook, func(c *notify.Channel) {
				c.Name = "n"
				c.Config = notify.ChannelConfig{BotToken: otherBotToken, ChannelID: "C9999999999", WebhookURL: otherSlackHook}
			}),
		},
		{
			name: "empty string clears the webhook",
			seed: botAndHook,
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"channel_id": testSlackChan, "webhook_url": ""}}
			},
			wantStatus: 200,
			want:       with(slackBot(), func(c *notify.Channel) { c.Name = "n" }),
		},
		{
			name: "switch from webhook to bot",
			seed: slackHook(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{
					"bot_token": testBotToken, "channel_id": testSlackChan, "webhook_url": ""}}
			},
			wantStatus: 200,
			want: with(slackHook(), func(c *notify.Channel) {
				c.Name, c.Events = "n", notify.AllEvents()
				c.Config = notify.ChannelConfig{BotToken: testBotToken, ChannelID: testSlackChan}
			}),
		},
		{
			name: "switch from bot to webhook",
			seed: slackBot(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"bot_token": "", "webhook_url": testSlackHook}}
			},
			wantStatus: 200,
			want: with(slackBot(), func(c *notify.Channel) {
				c.Name = "n"
				c.Config = notify.ChannelConfig{WebhookURL: testSlackHook}
			}),
		},
		{
			name: "switch from bot to webhook without clearing the token",
			seed: slackBot(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"webhook_url": testSlackHook}}
			},
			wantStatus: 400, wantMsg: msgPair,
		},
		{
			name: "clearing everything",
			seed: botAndHook,
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"bot_token": "", "webhook_url": ""}}
			},
			wantStatus: 400, wantMsg: msgSlackConfig,
		},
		{
			name: "a token mask that is not the stored one",
			seed: botAndHook,
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"bot_token": "xoxb-…ZZZZ", "channel_id": testSlackChan}}
			},
			wantStatus: 400,
			wantMsg:    `config.bot_token looks masked (it contains "…") but is not the stored bot token's mask: send the full bot token, or omit it to keep the stored one`,
		},
		{
			name: "a URL mask that is not the stored one",
			seed: botAndHook,
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"channel_id": testSlackChan, "webhook_url": "https://evil.example/…"}}
			},
			wantStatus: 400,
			wantMsg:    `config.webhook_url looks masked (it contains "…") but is not the stored webhook URL's mask: send the full webhook URL, or omit it to keep the stored one`,
		},
		{
			name: "a URL mask when none is stored",
			seed: slackBot(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"channel_id": testSlackChan, "webhook_url": "https://hooks.slack.com/…"}}
			},
			wantStatus: 400,
			wantMsg:    `config.webhook_url looks masked (it contains "…") but is not the stored webhook URL's mask: send the full webhook URL, or omit it to keep the stored one`,
		},
		{
			name: "enabled omitted keeps false",
			seed: with(slackHook(), func(c *notify.Channel) { c.Enabled = false }),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "events": []string{"drift_alert"}}
			},
			wantStatus: 200,
			want: with(slackHook(), func(c *notify.Channel) {
				c.Name, c.Enabled, c.Events = "n", false, []notify.EventType{"drift_alert"}
			}),
		},
		{
			name: "enabled omitted keeps true",
			seed: with(slackHook(), func(c *notify.Channel) { c.Enabled = true }),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "events": []string{"drift_alert"}}
			},
			wantStatus: 200,
			want: with(slackHook(), func(c *notify.Channel) {
				c.Name, c.Enabled, c.Events = "n", true, []notify.EventType{"drift_alert"}
			}),
		},
		{
			name: "enabled false disables",
			seed: with(slackHook(), func(c *notify.Channel) { c.Enabled = true }),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "enabled": false}
			},
			wantStatus: 200,
			want: with(slackHook(), func(c *notify.Channel) {
				c.Name, c.Enabled, c.Events = "n", false, notify.AllEvents()
			}),
		},
		{
			name: "events omitted means all three",
			seed: with(slackHook(), func(c *notify.Channel) { c.Enabled = true }),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n"}
			},
			wantStatus: 200,
			want:       with(slackHook(), func(c *notify.Channel) { c.Name, c.Enabled, c.Events = "n", true, notify.AllEvents() }),
		},
		{
			name: "unknown event",
			seed: slackHook(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "events": []string{"nope"}}
			},
			wantStatus: 400, wantMsg: `unknown event type "nope": use approval_request, drift_alert or agent_status`,
		},
		{
			name: "matching id in the body",
			seed: slackHook(),
			body: func(id string) map[string]any {
				return map[string]any{"id": id, "channel_type": "slack", "name": "n", "enabled": true}
			},
			wantStatus: 200,
			want:       with(slackHook(), func(c *notify.Channel) { c.Name, c.Enabled, c.Events = "n", true, notify.AllEvents() }),
		},
		{
			name: "other id in the body",
			seed: slackHook(),
			body: func(string) map[string]any {
				return map[string]any{"id": "other", "channel_type": "slack", "name": "n"}
			},
			wantStatus: 400, wantMsg: "id in the body does not match the channel in the URL",
		},
		{
			name: "channel_type omitted",
			seed: slackHook(),
			body: func(string) map[string]any {
				return map[string]any{"name": "n"}
			},
			wantStatus: 400, wantMsg: msgChannelType,
		},
		{
			name: "change slack to teams with a teams URL; slack secrets are not carried over",
			seed: botAndHook,
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "teams", "name": "n", "config": map[string]string{"webhook_url": testTeamsHook}}
			},
			wantStatus: 200,
			want: with(botAndHook, func(c *notify.Channel) {
				c.Type, c.Name = notify.Teams, "n"
				c.Config = notify.ChannelConfig{WebhookURL: testTeamsHook}
			}),
		},
		{
			name: "change slack to teams without a URL",
			seed: slackHook(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "teams", "name": "n"}
			},
			wantStatus: 400, wantMsg: msgTeamsURL,
		},
		{
			name: "change slack to teams with the slack URL's mask",
			seed: slackHook(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "teams", "name": "n", "config": map[string]string{"webhook_url": "https://hooks.slack.com/…"}}
			},
			wantStatus: 400, wantMsg: `config.webhook_url looks masked (it contains "…"): send the full webhook URL`,
		},
		{
			name: "change slack to teams with the slack URL",
			seed: slackHook(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "teams", "name": "n", "config": map[string]string{"webhook_url": testSlackHook}}
			},
			wantStatus: 400, wantMsg: msgTeamsBadURL,
		},
		{
			name: "change teams to slack bot",
			seed: teamsHook(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"bot_token": testBotToken, "channel_id": testSlackChan}}
			},
			wantStatus: 200,
			want: with(teamsHook(), func(c *notify.Channel) {
				c.Type, c.Name, c.Events = notify.Slack, "n", notify.AllEvents()
				c.Config = notify.ChannelConfig{BotToken: testBotToken, ChannelID: testSlackChan}
			}),
		},
		{
			name: "name taken by another channel",
			seed: slackHook(),
			body: func(string) map[string]any {
				return map[string]any{"channel_type": "slack", "name": "Taken"}
			},
			wantStatus: 409, wantMsg: "a channel with this name already exists",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.seed(orgA, with(teamsHook(), func(c *notify.Channel) { c.Name = "Taken" }))
			seeded := f.seed(orgA, tt.seed)
			w := f.do(http.MethodPut, base+"/"+seeded.ID, tokenAdminA, mustJSON(t, tt.body(seeded.ID)))
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			st := f.stored(orgA, seeded.ID)
			if tt.wantStatus != http.StatusOK {
				assert.Equal(t, tt.wantMsg, errorBody(t, w))
				assert.Equal(t, seeded, st, "a failed update changes nothing")
				return
			}
			got := decode[notify.Channel](t, w)
			want := tt.want
			want.ID, want.OrgID, want.CreatedAt, want.UpdatedAt = seeded.ID, orgA, seeded.CreatedAt, st.UpdatedAt
			assert.Equal(t, want, st)
			assert.False(t, st.UpdatedAt.Before(seeded.UpdatedAt))

			// The answer is the stored channel, masked.
			st.OrgID, st.Config = "", st.Config.Masked()
			assert.Equal(t, st, got)
			assert.Contains(t, f.logs.String(), "notification channel updated")
		})
	}
}

func TestSettingsUpdateUnknownChannel(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"00000000-0000-7000-8000-000000000000", "nope", strings.Repeat("a", 200), "%C3%A9", "a%00b", "%FF"} {
		t.Run(id, func(t *testing.T) {
			w := f.do(http.MethodPut, base+"/"+id, tokenAdminA, `{"channel_type":"slack","name":"a","config":{"webhook_url":"`+testSlackHook+`"}}`)
			assert.Equal(t, http.StatusNotFound, w.Code)
			assert.Equal(t, "notification channel not found", errorBody(t, w))
		})
	}
	assert.Empty(t, f.storedAll(orgA), "an update never creates")
}

// The round trip an admin UI makes: read a channel, change its name, send
// back everything it read. The secrets must survive untouched.
func TestSettingsMaskedRoundTrip(t *testing.T) {
	seeds := map[string]notify.Channel{
		"slack bot and webhook": with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook; c.Enabled = true }),
		"slack webhook":         with(slackHook(), func(c *notify.Channel) { c.Enabled = false }),
		"teams webhook":         teamsHook(),
		"teams workflows":       with(teamsHook(), func(c *notify.Channel) { c.Config.WebhookURL = testWorkflow }),
	}
	for name, seed := range seeds {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			seeded := f.seed(orgA, seed)

			w := f.do(http.MethodGet, base, tokenAdminA, "")
			require.Equal(t, http.StatusOK, w.Code)
			var list struct {
				Channels []map[string]any `json:"channels"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &list))
			require.Len(t, list.Channels, 1)
			got := list.Channels[0]
			got["name"] = "Renamed"

			w = f.do(http.MethodPut, base+"/"+seeded.ID, tokenAdminA, mustJSON(t, got))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())

			st := f.stored(orgA, seeded.ID)
			assert.Equal(t, "Renamed", st.Name)
			assert.Equal(t, seeded.Config, st.Config, "secrets unchanged in the store")
			assert.Equal(t, seeded.Type, st.Type)
			assert.Equal(t, seeded.Events, st.Events)
			assert.Equal(t, seeded.Enabled, st.Enabled)
			assert.Equal(t, seeded.CreatedAt, st.CreatedAt)
		})
	}
}

// ---------------------------------------------------------------------
// Delete

func TestSettingsDelete(t *testing.T) {
	f := newFixture(t)
	keep := f.seed(orgA, teamsHook())
	gone := f.seed(orgA, slackBot())

	w := f.do(http.MethodDelete, base+"/"+gone.ID, tokenAdminA, "")
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Empty(t, w.Body.String())
	_, err := f.mem.GetChannel(t.Context(), orgA, gone.ID)
	assert.ErrorIs(t, err, notify.ErrNotFound)
	assert.Equal(t, []notify.Channel{keep}, f.storedAll(orgA))
	assert.Contains(t, f.logs.String(), "notification channel deleted")

	w = f.do(http.MethodDelete, base+"/"+gone.ID, tokenAdminA, "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Equal(t, "notification channel not found", errorBody(t, w))
}

// ---------------------------------------------------------------------
// Organisation isolation

func TestSettingsOrgIsolation(t *testing.T) {
	f := newFixture(t)
	mine := f.seed(orgA, slackHook())
	theirs := f.seed(orgB, with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = otherBotToken }))
	missing := "00000000-0000-7000-8000-000000000000"

	// Not listed.
	w := f.do(http.MethodGet, base, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.NotContains(t, w.Body.String(), theirs.ID)
	assert.Contains(t, w.Body.String(), mine.ID)

	// A foreign channel answers exactly like a missing one on every verb.
	update := mustJSON(t, map[string]any{"channel_type": "slack", "name": "Hijacked", "config": map[string]string{"webhook_url": testSlackHook}})
	for _, req := range []struct{ method, suffix, body string }{
		{http.MethodPut, "", update},
		{http.MethodDelete, "", ""},
		{http.MethodPost, "/test", ""},
		{http.MethodPost, "/test", `{"message":"hi"}`},
		{http.MethodGet, "", ""},
		{http.MethodGet, "/deliveries", ""},
		{http.MethodPost, "/deliveries/d-1/retry", ""},
	} {
		t.Run(req.method+req.suffix, func(t *testing.T) {
			foreign := f.do(req.method, base+"/"+theirs.ID+req.suffix, tokenAdminA, req.body)
			absent := f.do(req.method, base+"/"+missing+req.suffix, tokenAdminA, req.body)
			assert.Equal(t, http.StatusNotFound, foreign.Code)
			assert.Equal(t, "notification channel not found", errorBody(t, foreign))
			assert.Equal(t, absent.Code, foreign.Code)
			assert.Equal(t, absent.Body.String(), foreign.Body.String())
		})
	}
	assert.Equal(t, theirs, f.stored(orgB, theirs.ID), "the other organisation's channel is untouched")
	assert.Equal(t, mine, f.stored(orgA, mine.ID))
	assert.Empty(t, f.sender.Calls(), "nothing was sent to the other organisation's channel")

	// And the owner still can.
	w = f.do(http.MethodPost, base+"/"+theirs.ID+"/test", tokenAdminB, "")
	assert.Equal(t, http.StatusOK, w.Code)
}

// ---------------------------------------------------------------------
// Store failures

// failingStore wraps a ChannelStore and fails one operation with err.
type failingStore struct {
	notify.ChannelStore
	op  string
	err error
}

func (s failingStore) ListChannels(ctx context.Context, orgID string) ([]notify.Channel, error) {
	if s.op == "list" {
		return nil, s.err
	}
	return s.ChannelStore.ListChannels(ctx, orgID)
}

func (s failingStore) GetChannel(ctx context.Context, orgID, id string) (notify.Channel, error) {
	if s.op == "get" {
		return notify.Channel{}, s.err
	}
	return s.ChannelStore.GetChannel(ctx, orgID, id)
}

func (s failingStore) CreateChannel(ctx context.Context, ch notify.Channel) (notify.Channel, error) {
	if s.op == "create" {
		return notify.Channel{}, s.err
	}
	return s.ChannelStore.CreateChannel(ctx, ch)
}

func (s failingStore) UpdateChannel(ctx context.Context, ch notify.Channel) (notify.Channel, error) {
	if s.op == "update" {
		return notify.Channel{}, s.err
	}
	return s.ChannelStore.UpdateChannel(ctx, ch)
}

func (s failingStore) DeleteChannel(ctx context.Context, orgID, id string) error {
	if s.op == "delete" {
		return s.err
	}
	return s.ChannelStore.DeleteChannel(ctx, orgID, id)
}

// typeIgnoringStore is a store that does not persist channel_type changes.
type typeIgnoringStore struct{ notify.ChannelStore }

func (s typeIgnoringStore) UpdateChannel(ctx context.Context, ch notify.Channel) (notify.Channel, error) {
	old, err := s.GetChannel(ctx, ch.OrgID, ch.ID)
	if err != nil {
		return old, err
	}
	ch.Type = old.Type
	return s.ChannelStore.UpdateChannel(ctx, ch)
}

// leakyStore ignores the organisation, as a buggy store might.
type leakyStore struct{ m *memstore.Store }

func (s leakyStore) all(ctx context.Context) []notify.Channel {
	a, _ := s.m.ListChannels(ctx, orgA)
	b, _ := s.m.ListChannels(ctx, orgB)
	return append(a, b...)
}

func (s leakyStore) ListChannels(ctx context.Context, _ string) ([]notify.Channel, error) {
	return s.all(ctx), nil
}

func (s leakyStore) GetChannel(ctx context.Context, _, id string) (notify.Channel, error) {
	for _, ch := range s.all(ctx) {
		if ch.ID == id {
			return ch, nil
		}
	}
	return notify.Channel{}, notify.ErrNotFound
}

func (s leakyStore) CreateChannel(ctx context.Context, ch notify.Channel) (notify.Channel, error) {
	return s.m.CreateChannel(ctx, ch)
}

func (s leakyStore) UpdateChannel(ctx context.Context, ch notify.Channel) (notify.Channel, error) {
	return s.m.UpdateChannel(ctx, ch)
}

func (s leakyStore) DeleteChannel(ctx context.Context, orgID, id string) error {
	return s.m.DeleteChannel(ctx, orgID, id)
}

// The handler does not rely on the store alone for isolation: a channel
// the store returns for another organisation is treated as absent.
func TestSettingsOrgIsolationWithLeakyStore(t *testing.T) {
	f := newFixture(t, withStore(func(m *memstore.Store) notify.ChannelStore { return leakyStore{m} }))
	mine := f.seed(orgA, slackHook())
	theirs := f.seed(orgB, with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = otherBotToken }))

	w := f.do(http.MethodGet, base, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code)
	list := decode[struct{ Channels []notify.Channel }](t, w)
	require.Len(t, list.Channels, 1)
	assert.Equal(t, mine.ID, list.Channels[0].ID)

	w = f.do(http.MethodPost, base+"/"+theirs.ID+"/test", tokenAdminA, "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	w = f.do(http.MethodPut, base+"/"+theirs.ID, tokenAdminA, `{"channel_type":"slack","name":"x"}`)
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Empty(t, f.sender.Calls())
	assert.Equal(t, theirs, f.stored(orgB, theirs.ID))
}

func TestSettingsStoreErrors(t *testing.T) {
	// A driver error quoting the row it choked on, secrets included.
	sqlErr := errors.New(`pq: duplicate key value violates unique constraint "channels_pkey" DETAIL: Failing row contains (` +
		testBotToken + `, ` + testSlackHook + `, ` + otherBotToken + `, ` + otherSlackHook + `)`)
	create := mustJSON(t, map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"bot_token": otherBotToken, "channel_id": testSlackChan, "webhook_url": otherSlackHook}})
	update := mustJSON(t, map[string]any{"channel_type": "slack", "name": "n", "config": map[string]string{"bot_token": otherBotToken, "channel_id": testSlackChan, "webhook_url": otherSlackHook}})
	tests := []struct {
		op, method, suffix, body string
		err                      error
		wantStatus               int
		wantMsg                  string
	}{
		{"list", http.MethodGet, "", "", sqlErr, 500, "internal error"},
		{"create", http.MethodPost, "", create, sqlErr, 500, "internal error"},
		{"get", http.MethodPut, "/{id}", update, sqlErr, 500, "internal error"},
		{"update", http.MethodPut, "/{id}", update, sqlErr, 500, "internal error"},
		{"delete", http.MethodDelete, "/{id}", "", sqlErr, 500, "internal error"},
		{"get", http.MethodPost, "/{id}/test", "", sqlErr, 500, "internal error"},
		{"create", http.MethodPost, "", create, fmt.Errorf("insert: %w (%s)", notify.ErrConflict, sqlErr), 409, "a channel with this name already exists"},
		{"update", http.MethodPut, "/{id}", update, fmt.Errorf("update: %w", notify.ErrConflict), 409, "a channel with this name already exists"},
		{"update", http.MethodPut, "/{id}", update, fmt.Errorf("update: %w (%s)", notify.ErrNotFound, sqlErr), 404, "notification channel not found"},
		{"delete", http.MethodDelete, "/{id}", "", fmt.Errorf("delete: %w", notify.ErrNotFound), 404, "notification channel not found"},
		{"get", http.MethodPost, "/{id}/test", "", fmt.Errorf("select: %w", notify.ErrNotFound), 404, "notification channel not found"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s%s %d", tt.op, tt.method, tt.suffix, tt.wantStatus), func(t *testing.T) {
			f := newFixture(t, withStore(func(m *memstore.Store) notify.ChannelStore {
				return failingStore{ChannelStore: m, op: tt.op, err: tt.err}
			}))
			seeded := f.seed(orgA, with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook }))
			w := f.do(tt.method, base+strings.ReplaceAll(tt.suffix, "{id}", seeded.ID), tokenAdminA, tt.body)
			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, tt.wantMsg, errorBody(t, w))
			assert.NotContains(t, w.Body.String(), "pq:")
			assert.NotContains(t, w.Body.String(), "constraint")
			logs := f.logs.String()
			if tt.wantStatus == 500 {
				assert.Contains(t, logs, "duplicate key value", "the detail is logged")
				assert.Contains(t, logs, "[REDACTED]", "with the secrets redacted")
			} else {
				assert.NotContains(t, logs, `"level":"ERROR"`)
			}
			assert.Empty(t, f.sender.Calls())
		})
	}
}

func TestSettingsUpdateDetectsStoreIgnoringType(t *testing.T) {
	f := newFixture(t, withStore(func(m *memstore.Store) notify.ChannelStore { return typeIgnoringStore{m} }))
	seeded := f.seed(orgA, slackHook())
	w := f.do(http.MethodPut, base+"/"+seeded.ID, tokenAdminA, mustJSON(t, map[string]any{
		"channel_type": "teams", "name": "n", "config": map[string]string{"webhook_url": testTeamsHook},
	}))
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.Equal(t, "internal error", errorBody(t, w))
	assert.Contains(t, f.logs.String(), "store did not persist")
}

// ---------------------------------------------------------------------
// Test notifications

func TestSettingsTestNotification(t *testing.T) {
	tests := []struct {
		name        string
		opts        func(*notify.SettingsOptions)
		seed        notify.Channel
		contentType string
		body        string
		sendErr     error
		wantStatus  int
		wantBody    string // JSON
		wantText    string // sent, "" when nothing may be sent
	}{
		{name: "no body sends the default, which names no product", seed: slackBot(), wantStatus: 200, wantBody: `{"ok":true}`,
			wantText: "This is a test notification."},
		{name: "empty object sends the default", seed: slackBot(), body: `{}`, wantStatus: 200, wantBody: `{"ok":true}`,
			wantText: "This is a test notification."},
		{name: "blank message sends the default", seed: slackBot(), body: `{"message":"  \n"}`, wantStatus: 200, wantBody: `{"ok":true}`,
			wantText: "This is a test notification."},
		{name: "the host's product name", seed: slackBot(), opts: func(o *notify.SettingsOptions) { o.ProductName = " Acme Guard " },
			wantStatus: 200, wantBody: `{"ok":true}`, wantText: "This is a test notification from Acme Guard."},
		{name: "custom message", seed: teamsHook(), body: `{"message":"Hello from the runbook"}`, wantStatus: 200, wantBody: `{"ok":true}`,
			wantText: "Hello from the runbook"},
		{name: "message trimmed", seed: teamsHook(), body: `{"message":"  hi  "}`, wantStatus: 200, wantBody: `{"ok":true}`, wantText: "hi"},
		{name: "message at the limit", seed: teamsHook(), body: `{"message":"` + strings.Repeat("é", 4000) + `"}`, wantStatus: 200, wantBody: `{"ok":true}`,
			wantText: strings.Repeat("é", 4000)},
		{name: "disabled channel can be tested", seed: with(slackHook(), func(c *notify.Channel) { c.Enabled = false }), wantStatus: 200, wantBody: `{"ok":true}`,
			wantText: "This is a test notification."},
		{name: "message too long", seed: teamsHook(), body: `{"message":"` + strings.Repeat("a", 4001) + `"}`, wantStatus: 400,
			wantBody: `{"error":"message must be at most 4000 characters"}`},
		{name: "unknown field", seed: teamsHook(), body: `{"msg":"hi"}`, wantStatus: 400, wantBody: `{"error":"unknown field \"msg\""}`},
		{name: "message not a string", seed: teamsHook(), body: `{"message":1}`, wantStatus: 400, wantBody: `{"error":"field \"message\" must be a string"}`},
		{name: "not JSON", seed: teamsHook(), contentType: "text/plain", body: `hi`, wantStatus: 415, wantBody: `{"error":"Content-Type must be application/json"}`},
		{name: "body too large", seed: teamsHook(), opts: func(o *notify.SettingsOptions) { o.MaxBodyBytes = 100 },
			body: `{"message":"` + strings.Repeat("a", 200) + `"}`, wantStatus: 413, wantBody: `{"error":"request body is larger than 100 bytes"}`},
		{
			name: "delivery error shows its reason", seed: slackBot(),
			sendErr:    &notify.DeliveryError{Reason: "the bot is not in the channel: invite it or add the chat:write.public scope", Code: "not_in_channel", Permanent: true},
			wantStatus: 502, wantBody: `{"ok":false,"error":"the bot is not in the channel: invite it or add the chat:write.public scope"}`,
			wantText: "This is a test notification.",
		},
		{
			name: "wrapped delivery error", seed: teamsHook(),
			sendErr:    fmt.Errorf("teams: %w", &notify.DeliveryError{Reason: "the webhook no longer exists: create a new one", StatusCode: 404}),
			wantStatus: 502, wantBody: `{"ok":false,"error":"the webhook no longer exists: create a new one"}`,
			wantText: "This is a test notification.",
		},
		{
			name: "delivery error reason is redacted", seed: slackHook(),
			sendErr:    &notify.DeliveryError{Reason: "bad hook " + testSlackHook},
			wantStatus: 502, wantBody: `{"ok":false,"error":"bad hook [REDACTED]"}`,
			wantText: "This is a test notification.",
		},
		{
			name: "delivery error without a reason", seed: slackHook(),
			sendErr:    &notify.DeliveryError{Code: "http_500"},
			wantStatus: 502, wantBody: `{"ok":false,"error":"the test notification could not be delivered"}`,
			wantText: "This is a test notification.",
		},
		{
			name: "other errors are generic", seed: with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook }),
			sendErr:    &url.Error{Op: "Post", URL: testSlackHook, Err: fmt.Errorf("tls: handshake failure; Authorization: Bearer %s", testBotToken)},
			wantStatus: 502, wantBody: `{"ok":false,"error":"the test notification could not be delivered"}`,
			wantText: "This is a test notification.",
		},
		{
			name: "a URL's path and query alone in an error are still redacted", seed: with(teamsHook(), func(c *notify.Channel) { c.Config.WebhookURL = testWorkflow }),
			sendErr:    fmt.Errorf("post %s?%s: 500", "/workflows/abc/triggers/manual/paths/invoke", "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SIGSIGSIG"),
			wantStatus: 502, wantBody: `{"ok":false,"error":"the test notification could not be delivered"}`,
			wantText: "This is a test notification.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []fixtureOption{}
			if tt.opts != nil {
				opts = append(opts, withOptions(tt.opts))
			}
			f := newFixture(t, opts...)
			f.sender.fn = func(context.Context, notify.Channel, notify.Event) (notify.Receipt, error) {
				return notify.Receipt{}, tt.sendErr
			}
			seeded := f.seed(orgA, tt.seed)

			r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, base+"/"+seeded.ID+"/test", strings.NewReader(tt.body))
			r.Header.Set("Authorization", "Bearer "+tokenAdminA)
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			} else if tt.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.JSONEq(t, tt.wantBody, w.Body.String())
			assertNoSecrets(t, "response", w.Body.String())

			calls := f.sender.Calls()
			if tt.wantText == "" {
				assert.Empty(t, calls)
				return
			}
			require.Len(t, calls, 1)
			assert.Equal(t, notify.TestMessage{Text: tt.wantText}, calls[0].ev)
			assert.Equal(t, seeded, calls[0].ch, "the sender gets the stored channel, secrets included")
			assert.True(t, calls[0].hasDeadline, "the send is bounded by TestTimeout")
			if tt.sendErr != nil {
				assert.Contains(t, f.logs.String(), "test notification failed")
			}
		})
	}
}

func TestSettingsTestNotificationTimeout(t *testing.T) {
	f := newFixture(t, withOptions(func(o *notify.SettingsOptions) { o.TestTimeout = time.Millisecond }))
	f.sender.fn = func(ctx context.Context, _ notify.Channel, _ notify.Event) (notify.Receipt, error) {
		<-ctx.Done() // a platform that never answers
		return notify.Receipt{}, fmt.Errorf("post: %w", ctx.Err())
	}
	seeded := f.seed(orgA, teamsHook())
	w := f.do(http.MethodPost, base+"/"+seeded.ID+"/test", tokenAdminA, "")
	assert.Equal(t, http.StatusBadGateway, w.Code)
	assert.JSONEq(t, `{"ok":false,"error":"Microsoft Teams did not answer within 1ms: try again later"}`, w.Body.String())
}

func TestSettingsTestNotificationRefusesInvalidStoredChannel(t *testing.T) {
	f := newFixture(t)
	// A channel that reached the store without validation.
	seeded := f.seed(orgA, with(slackHook(), func(c *notify.Channel) { c.Config.WebhookURL = "http://169.254.169.254/latest/meta-data/" }))
	w := f.do(http.MethodPost, base+"/"+seeded.ID+"/test", tokenAdminA, "")
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.JSONEq(t, `{"ok":false,"error":"the channel's settings are not valid: `+msgSlackURL+`; update the channel and try again"}`, w.Body.String())
	assert.Empty(t, f.sender.Calls())
}

// ---------------------------------------------------------------------
// Logging

// Every path that logs, with secrets everywhere they could come from: the
// fixture's cleanup asserts that none reached the log.
func TestSettingsSecretsNeverLogged(t *testing.T) {
	leaky := errors.New("driver: row (" + testBotToken + ", " + testSlackHook + ", " + otherBotToken + ", " + otherSlackHook + ")")
	for _, op := range []string{"none", "list", "get", "create", "update", "delete"} {
		t.Run(op, func(t *testing.T) {
			f := newFixture(t, withStore(func(m *memstore.Store) notify.ChannelStore {
				return failingStore{ChannelStore: m, op: op, err: leaky}
			}))
			f.sender.fn = func(context.Context, notify.Channel, notify.Event) (notify.Receipt, error) {
				return notify.Receipt{}, errors.New("post " + testSlackHook + " with " + testBotToken + ": 403")
			}
			seeded := f.seed(orgA, with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook }))
			f.do(http.MethodGet, base, tokenAdminA, "")
			f.do(http.MethodPost, base, tokenAdminA, mustJSON(t, map[string]any{"channel_type": "slack", "name": "new",
				"config": map[string]string{"bot_token": otherBotToken, "channel_id": testSlackChan, "webhook_url": otherSlackHook}}))
			f.do(http.MethodPut, base+"/"+seeded.ID, tokenAdminA, mustJSON(t, map[string]any{"channel_type": "slack", "name": "upd",
				"config": map[string]string{"bot_token": otherBotToken, "channel_id": testSlackChan, "webhook_url": otherSlackHook}}))
			f.do(http.MethodPost, base+"/"+seeded.ID+"/test", tokenAdminA, "")
			f.do(http.MethodDelete, base+"/"+seeded.ID, tokenAdminA, "")
			f.do(http.MethodGet, base, tokenBroken, "")

			logs := f.logs.String()
			assert.NotEmpty(t, logs)
			assert.Contains(t, logs, "[REDACTED]", "the leaky errors were logged, redacted")
		})
	}
}
