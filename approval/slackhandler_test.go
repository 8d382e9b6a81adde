package approval_test

import (
	"context"
	"encoding/json"
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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/slackverify"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// fakeSlack records the messages posted to its response_urls, as Slack
// would receive them. Its answers can be scripted and held back.
type fakeSlack struct {
	srv *httptest.Server

	mu       sync.Mutex
	posts    []slackPost
	statuses []int // answers to give, in order (dropConnection: none); then 200

	received chan struct{} // one value per request received, when non-nil
	release  chan struct{} // requests wait for it to close, when non-nil
}

type slackPost struct {
	Path        string
	ContentType string
	Body        map[string]any
	Raw         string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	t.Helper()
	f := &fakeSlack{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.mu.Lock()
		if f.release != nil {
			select {
			case <-f.release:
			default:
				close(f.release)
			}
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	p := slackPost{Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Raw: string(raw)}
	if err := json.Unmarshal(raw, &p.Body); err != nil {
		p.Body = map[string]any{"unparsable": err.Error()}
	}
	f.mu.Lock()
	received, release := f.received, f.release
	f.mu.Unlock()
	if received != nil {
		received <- struct{}{}
	}
	if release != nil {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	f.posts = append(f.posts, p)
	status := http.StatusOK
	if len(f.statuses) > 0 {
		status, f.statuses = f.statuses[0], f.statuses[1:]
	}
	f.mu.Unlock()
	if status == dropConnection {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if status != http.StatusOK {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(status)
	if status == http.StatusOK {
		io.WriteString(w, `{"ok":true}`)
	} else {
		io.WriteString(w, `{"ok":false,"error":"internal_error"}`)
	}
}

// dropConnection, as a fakeSlack status, closes the connection without an
// answer: a network error for the client.
const dropConnection = -1

// url returns a response_url on the fake.
func (f *fakeSlack) url() string {
	return f.srv.URL + "/actions/T9TK3CUKW/1232321423432/D09sSasdasdAS9091209"
}

func (f *fakeSlack) recorded() []slackPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackPost(nil), f.posts...)
}

// slackEnv is a handler over a serviceEnv, with a fake Slack and the
// logs of both.
type slackEnv struct {
	*serviceEnv
	handler *approval.SlackHandler
	slack   *fakeSlack
	logs    *syncbuf.Buffer
}

func newSlackEnv(t *testing.T, opts *approval.SlackOptions) *slackEnv {
	t.Helper()
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &slackEnv{serviceEnv: newServiceEnv(t, &approval.Options{Logger: logger}), slack: newFakeSlack(t), logs: logs}
	o := approval.SlackOptions{AllowLoopbackResponseURLs: true}
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = logger
	}
	h, err := approval.NewSlackHandler(e.svc, &o)
	require.NoError(t, err)
	t.Cleanup(func() { h.Close(context.Background()) })
	e.handler = h
	return e
}

// settle waits until every background send is done.
func (e *slackEnv) settle(t *testing.T) {
	t.Helper()
	require.NoError(t, e.handler.Close(t.Context()))
}

// blockActions returns Slack's sample block_actions payload (protocol.md
// §2) clicking actionID with value, by user, answering to responseURL.
func blockActions(actionID, value string, user map[string]any, responseURL string) map[string]any {
	if user == nil {
		user = map[string]any{"id": "UA8RXUSPL", "username": "jtorrance", "name": "amy", "team_id": "T9TK3CUKW"}
	}
	return map[string]any{
		"type": "block_actions", "team": map[string]any{"id": "T9TK3CUKW", "domain": "example"},
		"user": user, "api_app_id": "AABA1ABCD", "token": "9s8d9as89d8as9d8as989",
		"container": map[string]any{
			"type": "message_attachment", "message_ts": "1548261231.000200", "attachment_id": 1,
			"channel_id": "CBR2V3XEX", "is_ephemeral": false, "is_app_unfurl": false,
		},
		"trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
		"channel":    map[string]any{"id": "CBR2V3XEX", "name": "review-updates"},
		"message": map[string]any{
			"bot_id": "BAH5CA16Z", "type": "message", "text": "This content can't be displayed.",
			"user": "UAJ2RU415", "ts": "1548261231.000200",
		},
		"response_url": responseURL,
		"actions": []any{map[string]any{
			"action_id": actionID, "block_id": "=qXel",
			"text":  map[string]any{"type": "plain_text", "text": "View", "emoji": true},
			"value": value, "type": "button", "action_ts": "1548426417.840180",
		}},
	}
}

// legacyAction returns a legacy interactive_message payload for an
// attachment button named name with value.
func legacyAction(name, value, responseURL string) map[string]any {
	return map[string]any{
		"type":        "interactive_message",
		"actions":     []any{map[string]any{"name": name, "type": "button", "value": value}},
		"callback_id": "approval_request",
		"team":        map[string]any{"id": "T47563693", "domain": "watermelonsugar"},
		"channel":     map[string]any{"id": "C065W1189", "name": "forgotten-works"},
		"user":        map[string]any{"id": "U045VRZFT", "name": "brautigan"},
		"action_ts":   "1458170917.164398", "message_ts": "1458170866.000004", "attachment_id": "1",
		"token":            "xAB3yVzGS4BQ3O9FACTa8Ho4",
		"original_message": map[string]any{"text": "Approval requested", "attachments": []any{}},
		"response_url":     responseURL,
	}
}

func formBody(payload any) string {
	js, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	return "payload=" + url.QueryEscape(string(js))
}

// post sends a form body to h.
func post(t *testing.T, h http.Handler, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.SlackInteractionsPath, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestSlackHandlerDecidesEveryActionID(t *testing.T) {
	tests := []struct {
		actionID string
		status   approval.Status
		text     string
		notes    string
	}{
		{"approve_action", approval.StatusApproved, ":white_check_mark: *APPROVED* by amy", "Approved by amy via Slack"},
		{"platform_approve", approval.StatusApproved, ":white_check_mark: *APPROVED* by amy", "Approved by amy via Slack"},
		{"deny_action", approval.StatusDenied, ":x: *DENIED* by amy", "Denied by amy via Slack"},
		{"platform_deny", approval.StatusDenied, ":x: *DENIED* by amy", "Denied by amy via Slack"},
	}
	for _, tt := range tests {
		t.Run(tt.actionID, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			req := e.create(t, approval.Request{ID: "apr-1", Title: "Delete production bucket logs-archive",
				Agent: "deploy-bot", Action: "s3:DeleteBucket", RiskScore: 82})

			w := post(t, e.handler, formBody(blockActions(tt.actionID, "apr-1", nil, e.slack.url())))

			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.JSONEq(t, `{"replace_original":true,"text":"`+tt.text+`"}`, w.Body.String())

			got := e.get(t, req.ID)
			assert.Equal(t, tt.status, got.Status)
			assert.Equal(t, "amy", got.ReviewedBy)
			assert.Equal(t, "UA8RXUSPL", got.ReviewerID)
			assert.Equal(t, approval.SourceSlack, got.ReviewSource)
			assert.Equal(t, tt.notes, got.ReviewNotes)

			entries := e.audit(t)
			require.Len(t, entries, 1)
			assert.Equal(t, approval.AuditReviewed, entries[0].Action)
			assert.Equal(t, tt.status, entries[0].Decision)
			assert.False(t, entries[0].Verified, "not behind slackverify")

			e.settle(t)
			posts := e.slack.recorded()
			require.Len(t, posts, 1)
			p := posts[0]
			assert.Equal(t, "application/json", p.ContentType)
			assert.Equal(t, "/actions/T9TK3CUKW/1232321423432/D09sSasdasdAS9091209", p.Path)
			assert.Equal(t, true, p.Body["replace_original"])
			assert.Equal(t, tt.text, p.Body["text"])
			assert.Contains(t, p.Raw, "Delete production bucket logs-archive")
			assert.Contains(t, p.Raw, "deploy-bot")
			assert.Contains(t, p.Raw, "s3:DeleteBucket")
			assert.Contains(t, p.Raw, "82 (high)")
			assert.NotContains(t, p.Raw, "response_type", "a decision replaces the message for everyone")
		})
	}
}

func TestSlackHandlerIgnoresOtherActions(t *testing.T) {
	for _, actionID := range []string{"view_console", "platform_view_console", "WaXA", "approve", ""} {
		t.Run(actionID, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			e.create(t, approval.Request{ID: "apr-1"})

			w := post(t, e.handler, formBody(blockActions(actionID, "apr-1", nil, e.slack.url())))

			assert.Equal(t, http.StatusOK, w.Code)
			assert.Empty(t, w.Body.String())
			assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
			assert.Empty(t, e.audit(t))
			e.settle(t)
			assert.Empty(t, e.slack.recorded())
		})
	}
}

func TestSlackHandlerAcknowledgesOtherPayloadTypes(t *testing.T) {
	for _, typ := range []string{"view_submission", "view_closed", "shortcut", "message_action", "block_suggestion"} {
		t.Run(typ, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			e.create(t, approval.Request{ID: "apr-1"})
			p := blockActions("approve_action", "apr-1", nil, e.slack.url())
			p["type"] = typ

			w := post(t, e.handler, formBody(p))

			assert.Equal(t, http.StatusOK, w.Code)
			assert.Empty(t, w.Body.String())
			assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
		})
	}
}

func TestSlackHandlerSlackSamplePayload(t *testing.T) {
	// Slack's own sample block_actions payload, verbatim but for the
	// action ID and value: the user has no "name", so the username is the
	// reviewer.
	const sample = `{"type":"block_actions","team":{"id":"T9TK3CUKW","domain":"example"},
 "user":{"id":"UA8RXUSPL","username":"jtorrance","team_id":"T9TK3CUKW"},
 "api_app_id":"AABA1ABCD","token":"9s8d9as89d8as9d8as989",
 "container":{"type":"message_attachment","message_ts":"1548261231.000200","attachment_id":1,"channel_id":"CBR2V3XEX","is_ephemeral":false,"is_app_unfurl":false},
 "trigger_id":"12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
 "channel":{"id":"CBR2V3XEX","name":"review-updates"},
 "message":{"bot_id":"BAH5CA16Z","type":"message","text":"This content can't be displayed.","user":"UAJ2RU415","ts":"1548261231.000200"},
 "response_url":"RESPONSE_URL",
 "actions":[{"action_id":"ACTION","block_id":"=qXel","text":{"type":"plain_text","text":"View","emoji":true},"value":"VALUE","type":"button","action_ts":"1548426417.840180"}]}`
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "click_me_123"})
	payload := func(action string) string {
		return strings.NewReplacer("RESPONSE_URL", e.slack.url(), "ACTION", action, "VALUE", "click_me_123").Replace(sample)
	}

	w := post(t, e.handler, "payload="+url.QueryEscape(payload("WaXA")))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, approval.StatusPending, e.get(t, "click_me_123").Status, "unknown action ignored")

	w = post(t, e.handler, "payload="+url.QueryEscape(payload("approve_action")))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"replace_original":true,"text":":white_check_mark: *APPROVED* by jtorrance"}`, w.Body.String())
	got := e.get(t, "click_me_123")
	assert.Equal(t, approval.StatusApproved, got.Status)
	assert.Equal(t, "UA8RXUSPL", got.ReviewerID)
}

func TestSlackHandlerLegacyInteractiveMessage(t *testing.T) {
	tests := []struct {
		name   string
		status approval.Status
		text   string
	}{
		{"approve_action", approval.StatusApproved, ":white_check_mark: *APPROVED* by brautigan"},
		{"platform_deny", approval.StatusDenied, ":x: *DENIED* by brautigan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			e.create(t, approval.Request{ID: "apr-7"})

			w := post(t, e.handler, formBody(legacyAction(tt.name, "apr-7", e.slack.url())))

			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			// Slack replaces a legacy message with this body.
			assert.JSONEq(t, `{"replace_original":true,"text":"`+tt.text+`"}`, w.Body.String())
			got := e.get(t, "apr-7")
			assert.Equal(t, tt.status, got.Status)
			assert.Equal(t, "U045VRZFT", got.ReviewerID)
			e.settle(t)
			posts := e.slack.recorded()
			require.Len(t, posts, 1)
			assert.Equal(t, tt.text, posts[0].Body["text"])
			assert.Equal(t, true, posts[0].Body["replace_original"])
		})
	}

	t.Run("already decided", func(t *testing.T) {
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-7"})
		_, err := e.svc.Review(t.Context(), "apr-7", approval.Deny, approval.Reviewer{ID: "U1", Name: "bob"}, approval.SourceTeams)
		require.NoError(t, err)

		w := post(t, e.handler, formBody(legacyAction("approve_action", "apr-7", e.slack.url())))

		require.Equal(t, http.StatusOK, w.Code)
		assert.JSONEq(t, `{"response_type":"ephemeral","replace_original":false,"text":":warning: Already denied"}`, w.Body.String())
		e.settle(t)
		assert.Empty(t, e.slack.recorded(), "the body already carries the ephemeral answer")
	})
}

func TestSlackHandlerProcessingErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, e *slackEnv)
		id    string
		text  string
	}{
		{
			name: "not found", id: "apr-missing",
			setup: func(t *testing.T, e *slackEnv) {},
			text:  ":warning: Approval request not found",
		},
		{
			name: "already approved", id: "apr-1",
			setup: func(t *testing.T, e *slackEnv) {
				e.create(t, approval.Request{ID: "apr-1"})
				_, err := e.svc.Review(t.Context(), "apr-1", approval.Approve, approval.Reviewer{ID: "U2", Name: "bob"}, approval.SourceSlack)
				require.NoError(t, err)
			},
			text: ":warning: Already approved",
		},
		{
			name: "already denied", id: "apr-1",
			setup: func(t *testing.T, e *slackEnv) {
				e.create(t, approval.Request{ID: "apr-1"})
				_, err := e.svc.Review(t.Context(), "apr-1", approval.Deny, approval.Reviewer{ID: "U2", Name: "bob"}, approval.SourceTeams)
				require.NoError(t, err)
			},
			text: ":warning: Already denied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			tt.setup(t, e)
			before := len(e.audit(t))

			w := post(t, e.handler, formBody(blockActions("approve_action", tt.id, nil, e.slack.url())))

			require.Equal(t, http.StatusOK, w.Code)
			ephemeral := `{"response_type":"ephemeral","replace_original":false,"text":"` + tt.text + `"}`
			assert.JSONEq(t, ephemeral, w.Body.String())
			assert.Len(t, e.audit(t), before, "nothing audited")
			e.settle(t)
			posts := e.slack.recorded()
			require.Len(t, posts, 1)
			assert.Equal(t, "application/json", posts[0].ContentType)
			assert.JSONEq(t, ephemeral, posts[0].Raw, "shown to the clicker only; the original stays")
		})
	}
}

func TestSlackHandlerExpiredReplacesOriginal(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-old", Title: "Rotate keys", RiskScore: 30})
	e.now = e.now.Add(2 * time.Hour) // past the deadline

	w := post(t, e.handler, formBody(blockActions("approve_action", "apr-old", nil, e.slack.url())))

	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"replace_original":true,"text":":warning: Approval request has expired"}`, w.Body.String())
	assert.Equal(t, approval.StatusExpired, e.get(t, "apr-old").Status)
	entries := e.audit(t)
	require.Len(t, entries, 1)
	assert.Equal(t, approval.AuditExpired, entries[0].Action)

	// A second click finds it expired, without a second audit entry.
	w = post(t, e.handler, formBody(blockActions("deny_action", "apr-old", nil, e.slack.url())))
	assert.JSONEq(t, `{"replace_original":true,"text":":warning: Approval request has expired"}`, w.Body.String())
	assert.Len(t, e.audit(t), 1)

	e.settle(t)
	posts := e.slack.recorded()
	require.Len(t, posts, 2)
	for _, p := range posts {
		assert.Equal(t, true, p.Body["replace_original"], "expiry replaces the original for everyone")
		assert.Equal(t, ":warning: Approval request has expired", p.Body["text"])
		assert.Contains(t, p.Raw, "Rotate keys")
		assert.Contains(t, p.Raw, "30 (low)")
		assert.Contains(t, p.Raw, `"blocks"`)
	}
}

func TestSlackHandlerMalformedRequests(t *testing.T) {
	valid := blockActions("approve_action", "apr-1", nil, "https://hooks.slack.com/actions/T/1/x")
	with := func(key string, v any) string {
		p := blockActions("approve_action", "apr-1", nil, "https://hooks.slack.com/actions/T/1/x")
		if v == nil {
			delete(p, key)
		} else {
			p[key] = v
		}
		return formBody(p)
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		msg         string
	}{
		{"JSON body", "application/json", `{"type":"block_actions"}`, 400, "Content-Type must be application/x-www-form-urlencoded"},
		{"no Content-Type", "", formBody(valid), 400, "Content-Type must be application/x-www-form-urlencoded"},
		{"bad escape", "", "payload=%7B%zz", 400, "request body is not a valid form"},
		{"no payload field", "", "foo=bar&baz=1", 400, "form field payload is missing"},
		{"empty payload", "", "payload=", 400, "form field payload is missing"},
		{"empty body", "", "", 400, "form field payload is missing"},
		{"payload not JSON", "", "payload=" + url.QueryEscape("type=block_actions"), 400, "payload is not valid JSON"},
		{"truncated JSON", "", "payload=" + url.QueryEscape(`{"type":"block_actions","actions":[`), 400, "payload is not valid JSON"},
		{"trailing data", "", "payload=" + url.QueryEscape(`{"type":"block_actions"} x`), 400, "payload is not valid JSON"},
		{"JSON array", "", "payload=" + url.QueryEscape(`[{"type":"block_actions"}]`), 400, "payload is not a JSON object"},
		{"type not a string", "", with("type", 7), 400, "payload has a field of the wrong type"},
		{"no type", "", with("type", nil), 400, "payload has no type"},
		{"no actions", "", with("actions", nil), 400, "payload has no actions"},
		{"empty actions", "", with("actions", []any{}), 400, "payload has no actions"},
		{"actions not an array", "", with("actions", "approve_action"), 400, "payload has a field of the wrong type"},
		{"no user", "", with("user", nil), 400, "payload has no user"},
		{"user without names", "", with("user", map[string]any{"team_id": "T1", "name": " "}), 400, "payload has no user"},
		{"empty value", "", formBody(blockActions("approve_action", "", nil, "")), 400, "button value (the approval ID) is empty"},
		{"empty value, deny", "", formBody(blockActions("platform_deny", "", nil, "")), 400, "button value (the approval ID) is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			e.create(t, approval.Request{ID: "apr-1"})
			r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.SlackInteractionsPath, strings.NewReader(tt.body))
			ct := tt.contentType
			if ct == "" && tt.name != "no Content-Type" {
				ct = "application/x-www-form-urlencoded"
			}
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, r)

			assert.Equal(t, tt.status, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.JSONEq(t, `{"error":`+jsonString(tt.msg)+`}`, w.Body.String())
			assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestSlackHandlerFormDetails(t *testing.T) {
	t.Run("payload not the first field", func(t *testing.T) {
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-1"})
		w := post(t, e.handler, "token=abc&x=%20&"+formBody(blockActions("approve_action", "apr-1", nil, e.slack.url())))
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, approval.StatusApproved, e.get(t, "apr-1").Status)
	})
	t.Run("plus is a space", func(t *testing.T) {
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-1"})
		js, err := json.Marshal(blockActions("approve_action", "apr-1", map[string]any{"id": "U1", "name": "amy smith"}, e.slack.url()))
		require.NoError(t, err)
		body := "payload=" + strings.ReplaceAll(url.PathEscape(string(js)), "%20", "+")
		require.Contains(t, body, "amy+smith")
		w := post(t, e.handler, body)
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, "amy smith", e.get(t, "apr-1").ReviewedBy)
	})
	t.Run("charset parameter", func(t *testing.T) {
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-1"})
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.SlackInteractionsPath,
			strings.NewReader(formBody(blockActions("approve_action", "apr-1", nil, e.slack.url()))))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, approval.StatusApproved, e.get(t, "apr-1").Status)
	})
	t.Run("body too large", func(t *testing.T) {
		e := newSlackEnv(t, &approval.SlackOptions{MaxBodyBytes: 100, AllowLoopbackResponseURLs: true})
		e.create(t, approval.Request{ID: "apr-1"})
		w := post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, e.slack.url())))
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		assert.JSONEq(t, `{"error":"request body is larger than 100 bytes"}`, w.Body.String())
		assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
	})
}

func TestSlackHandlerReviewerName(t *testing.T) {
	tests := []struct {
		name string
		user map[string]any
		want string
	}{
		{"name first", map[string]any{"id": "U1", "username": "amy.r", "name": "amy"}, "amy"},
		{"username when no name", map[string]any{"id": "U1", "username": "amy.r"}, "amy.r"},
		{"username when name is empty", map[string]any{"id": "U1", "username": "amy.r", "name": ""}, "amy.r"},
		{"ID when no names", map[string]any{"id": "U1"}, "U1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			e.create(t, approval.Request{ID: "apr-1"})
			w := post(t, e.handler, formBody(blockActions("approve_action", "apr-1", tt.user, e.slack.url())))
			require.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{"replace_original":true,"text":":white_check_mark: *APPROVED* by `+tt.want+`"}`, w.Body.String())
			got := e.get(t, "apr-1")
			assert.Equal(t, tt.want, got.ReviewedBy)
			assert.Equal(t, "U1", got.ReviewerID)
		})
	}
}

func TestSlackHandlerVerifiedBehindSlackverify(t *testing.T) {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-1"})
	v, err := slackverify.New(secret, nil)
	require.NoError(t, err)
	h := v.Middleware(e.handler)

	body := formBody(blockActions("approve_action", "apr-1", nil, e.slack.url()))
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.SlackInteractionsPath, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slackverify.Sign(r.Header, []byte(body), time.Now(), secret)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	require.Equal(t, http.StatusOK, w.Code)
	entries := e.audit(t)
	require.Len(t, entries, 1)
	assert.True(t, entries[0].Verified, "signature checked by slackverify")

	// A tampered body never reaches the handler.
	e.create(t, approval.Request{ID: "apr-2"})
	forged := formBody(blockActions("approve_action", "apr-2", nil, e.slack.url()))
	r = httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.SlackInteractionsPath, strings.NewReader(forged))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slackverify.Sign(r.Header, []byte(body), time.Now(), secret)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, approval.StatusPending, e.get(t, "apr-2").Status)
}

func TestSlackHandlerVerifiedOption(t *testing.T) {
	e := newSlackEnv(t, &approval.SlackOptions{
		AllowLoopbackResponseURLs: true,
		Verified:                  func(r *http.Request) bool { return r.Header.Get("X-Test-Verified") == "yes" },
	})
	e.create(t, approval.Request{ID: "apr-1"})
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.SlackInteractionsPath,
		strings.NewReader(formBody(blockActions("approve_action", "apr-1", nil, e.slack.url()))))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Test-Verified", "yes")
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	entries := e.audit(t)
	require.Len(t, entries, 1)
	assert.True(t, entries[0].Verified)
}

func TestSlackHandlerResponseURLAllowList(t *testing.T) {
	e := newSlackEnv(t, &approval.SlackOptions{}) // loopback not allowed
	other := newFakeSlack(t)
	e.create(t, approval.Request{ID: "apr-1"})
	e.create(t, approval.Request{ID: "apr-2"})

	w := post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, other.url())))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, approval.StatusApproved, e.get(t, "apr-1").Status, "the decision stands")
	// Nor is a look-alike of Slack's host used.
	w = post(t, e.handler, formBody(blockActions("approve_action", "apr-2", nil, "https://hooks.slack.com.evil.example/actions/T/1/secret-path")))
	require.Equal(t, http.StatusOK, w.Code)

	e.settle(t)
	assert.Empty(t, other.recorded(), "a non-Slack response_url is never called")
	logs := e.logs.String()
	assert.Contains(t, logs, "response_url not allowed")
	assert.Contains(t, logs, "approval_id=apr-1")
	assert.NotContains(t, logs, "D09sSasdasdAS9091209", "the response_url is never logged")
	assert.NotContains(t, logs, "secret-path")
	assert.NotContains(t, logs, other.srv.URL)
}

func TestSlackHandlerRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		posts    int
		warned   bool
	}{
		{"503 then ok", []int{503}, 2, false},
		{"429 then ok", []int{429}, 2, false},
		{"500 twice", []int{500, 500}, 2, true},
		{"400 is not retried", []int{400}, 1, true},
		{"network error then ok", []int{dropConnection}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			e.slack.statuses = tt.statuses
			e.create(t, approval.Request{ID: "apr-1"})
			post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, e.slack.url())))
			e.settle(t)
			assert.Len(t, e.slack.recorded(), tt.posts)
			if tt.warned {
				assert.Contains(t, e.logs.String(), "message not replaced")
			} else {
				assert.NotContains(t, e.logs.String(), "message not replaced")
			}
			assert.NotContains(t, e.logs.String(), e.slack.srv.URL)
		})
	}
}

// An ephemeral warning is not sent again after a network error: unlike a
// replacement, it could show twice.
func TestSlackHandlerDoesNotRetryEphemeralAfterNetworkError(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-1"})
	_, err := e.svc.Review(t.Context(), "apr-1", approval.Approve, approval.Reviewer{Name: "bob"}, approval.SourceAPI)
	require.NoError(t, err)

	e.slack.statuses = []int{dropConnection}
	post(t, e.handler, formBody(blockActions("deny_action", "apr-1", nil, e.slack.url())))
	e.settle(t)
	posts := e.slack.recorded()
	require.Len(t, posts, 1, "one try of the ephemeral warning, no retry")
	assert.Equal(t, "ephemeral", posts[0].Body["response_type"])
	assert.Contains(t, e.logs.String(), "message not replaced")
}

func TestSlackHandlerEscapesUserText(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-1", Title: "<!channel> drop <db> & \"run\"", Agent: "<@U123>"})
	w := post(t, e.handler, formBody(blockActions("approve_action", "apr-1",
		map[string]any{"id": "U1", "name": "amy <!here>"}, e.slack.url())))
	require.Equal(t, http.StatusOK, w.Code)
	var ack map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ack))
	assert.Equal(t, ":white_check_mark: *APPROVED* by amy &lt;!here&gt;", ack["text"])

	e.settle(t)
	posts := e.slack.recorded()
	require.Len(t, posts, 1)
	var texts []string
	collectTexts(posts[0].Body, &texts)
	joined := strings.Join(texts, "\n")
	assert.Contains(t, joined, "&lt;!channel&gt; drop &lt;db&gt; &amp; \"run\"")
	assert.Contains(t, joined, "&lt;@U123&gt;")
	assert.NotContains(t, joined, "<!channel>")
	assert.NotContains(t, joined, "<!here>")
	assert.NotContains(t, joined, "<@U123>")
}

// collectTexts gathers every "text" string in a decoded message.
func collectTexts(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "text" {
				*out = append(*out, s)
			} else {
				collectTexts(x, out)
			}
		}
	case []any:
		for _, x := range v {
			collectTexts(x, out)
		}
	}
}

func TestSlackHandlerConcurrentClicks(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-race"})
	const n = 50
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			action := "approve_action"
			if i%2 == 1 {
				action = "platform_approve"
			}
			w := post(t, e.handler, formBody(blockActions(action, "apr-race",
				map[string]any{"id": "U" + string(rune('A'+i%26)), "name": "reviewer"}, e.slack.url())))
			bodies[i] = w.Body.String()
		})
	}
	wg.Wait()

	approved, already := 0, 0
	for _, b := range bodies {
		switch {
		case strings.Contains(b, "*APPROVED*"):
			approved++
		case b == `{"response_type":"ephemeral","replace_original":false,"text":":warning: Already approved"}`:
			already++
		default:
			t.Errorf("unexpected answer %s", b)
		}
	}
	assert.Equal(t, 1, approved)
	assert.Equal(t, n-1, already)
	entries := e.audit(t)
	require.Len(t, entries, 1)
	assert.Equal(t, approval.AuditReviewed, entries[0].Action)

	e.settle(t)
	replaced, ephemeral := 0, 0
	for _, p := range e.slack.recorded() {
		if p.Body["replace_original"] == true {
			replaced++
		} else if p.Body["response_type"] == "ephemeral" {
			ephemeral++
		}
	}
	assert.Equal(t, 1, replaced)
	assert.Equal(t, n-1, ephemeral)
}

func TestSlackHandlerCloseDrainsPendingSends(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.slack.received = make(chan struct{}, 10)
	e.slack.release = make(chan struct{})
	e.create(t, approval.Request{ID: "apr-1"})

	w := post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, e.slack.url())))
	require.Equal(t, http.StatusOK, w.Code, "the ack does not wait for the send")
	<-e.slack.received // the send is in flight, held by the fake

	done := make(chan error, 1)
	go func() { done <- e.handler.Close(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Close returned %v while a send was in flight", err)
	default:
	}
	close(e.slack.release)
	require.NoError(t, <-done)
	posts := e.slack.recorded()
	require.Len(t, posts, 1, "Close waited for the send")
	assert.Equal(t, ":white_check_mark: *APPROVED* by amy", posts[0].Body["text"])

	// After Close clicks are still decided, without a send.
	e.create(t, approval.Request{ID: "apr-2"})
	w = post(t, e.handler, formBody(blockActions("deny_action", "apr-2", nil, e.slack.url())))
	assert.JSONEq(t, `{"replace_original":true,"text":":x: *DENIED* by amy"}`, w.Body.String())
	assert.Equal(t, approval.StatusDenied, e.get(t, "apr-2").Status)
	require.NoError(t, e.handler.Close(t.Context()))
	assert.Len(t, e.slack.recorded(), 1)
	assert.Contains(t, e.logs.String(), "handler is closed")
}

func TestSlackHandlerCloseGivesUp(t *testing.T) {
	e := newSlackEnv(t, &approval.SlackOptions{AllowLoopbackResponseURLs: true, SendWorkers: 1})
	e.slack.received = make(chan struct{}, 10)
	e.slack.release = make(chan struct{})
	e.create(t, approval.Request{ID: "apr-1"})
	e.create(t, approval.Request{ID: "apr-2"})

	post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, e.slack.url())))
	<-e.slack.received
	post(t, e.handler, formBody(blockActions("approve_action", "apr-2", nil, e.slack.url())))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, e.handler.Close(ctx), context.Canceled)
	assert.Equal(t, approval.StatusApproved, e.get(t, "apr-2").Status, "the decisions stand")
}

func TestSlackHandlerQueueFull(t *testing.T) {
	e := newSlackEnv(t, &approval.SlackOptions{AllowLoopbackResponseURLs: true, SendWorkers: 1, SendQueue: 1})
	e.slack.received = make(chan struct{}, 10)
	e.slack.release = make(chan struct{})
	for _, id := range []string{"apr-1", "apr-2", "apr-3"} {
		e.create(t, approval.Request{ID: id})
	}
	post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, e.slack.url())))
	<-e.slack.received // apr-1 in flight
	// apr-2 waits in the queue, which is then full.
	post(t, e.handler, formBody(blockActions("approve_action", "apr-2", nil, e.slack.url())))
	w := post(t, e.handler, formBody(blockActions("approve_action", "apr-3", nil, e.slack.url())))

	assert.Equal(t, http.StatusOK, w.Code, "a full queue never blocks the ack")
	assert.Equal(t, approval.StatusApproved, e.get(t, "apr-3").Status)
	logs := e.logs.String()
	assert.Contains(t, logs, "level=ERROR")
	assert.Contains(t, logs, "send queue is full")
	assert.Contains(t, logs, "approval_id=apr-3")

	close(e.slack.release)
	e.settle(t)
	assert.Len(t, e.slack.recorded(), 2)
}

func TestSlackHandlerRouting(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-1"})
	body := formBody(blockActions("approve_action", "apr-1", nil, e.slack.url()))

	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, approval.SlackInteractionsPath, nil)
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)

	r = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/webhooks/slack/other", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)

	// Under a prefix, with http.StripPrefix.
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", e.handler))
	r = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api"+approval.SlackInteractionsPath, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, approval.StatusApproved, e.get(t, "apr-1").Status)
}

func TestSlackHandlerNoResponseURL(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-1"})
	w := post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, "")))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, approval.StatusApproved, e.get(t, "apr-1").Status)
	e.settle(t)
	assert.Empty(t, e.slack.recorded())
}

func TestNewSlackHandlerErrors(t *testing.T) {
	st := memstore.New()
	svc, err := approval.NewService(st, st, nil)
	require.NoError(t, err)
	_, err = approval.NewSlackHandler(nil, nil)
	assert.Error(t, err)
	for name, o := range map[string]approval.SlackOptions{
		"MaxBodyBytes":   {MaxBodyBytes: -1},
		"ReplaceTimeout": {ReplaceTimeout: -1},
		"SendWorkers":    {SendWorkers: -1},
		"SendQueue":      {SendQueue: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := approval.NewSlackHandler(svc, &o)
			assert.Error(t, err)
		})
	}
	h, err := approval.NewSlackHandler(svc, nil)
	require.NoError(t, err)
	assert.NoError(t, h.Close(t.Context()), "Close without any send")
}

func ExampleNewSlackHandler() {
	store := memstore.New()
	svc, _ := approval.NewService(store, store, nil)
	store.CreateApproval(context.Background(), approval.Request{
		ID: "apr-1", OrgID: "org-1", Title: "Deploy to production", RiskScore: 40,
	})
	h, _ := approval.NewSlackHandler(svc, nil)
	defer h.Close(context.Background())
	// In production, mount it behind slackverify:
	//	mux.Handle(approval.SlackInteractionsPath, verifier.Middleware(h))

	// Slack POSTs a form whose payload field holds the click.
	payload := `{"type":"block_actions","user":{"id":"U0AMY","username":"amy"},` +
		`"actions":[{"action_id":"approve_action","value":"apr-1"}]}`
	r := httptest.NewRequest(http.MethodPost, approval.SlackInteractionsPath,
		strings.NewReader("payload="+url.QueryEscape(payload)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	fmt.Println(w.Code, w.Body.String())
	decided, _ := store.GetApproval(context.Background(), "apr-1")
	fmt.Println(decided.Status, "-", decided.ReviewNotes)
	// Output:
	// 200 {"replace_original":true,"text":":white_check_mark: *APPROVED* by amy"}
	// approved - Approved by amy via Slack
}

func TestSlackHandlerDoesNotFollowRedirects(t *testing.T) {
	elsewhere := newFakeSlack(t)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.url(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-1"})

	post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, redirector.URL+"/actions/T/1/x")))
	e.settle(t)

	assert.Empty(t, elsewhere.recorded())
	assert.Contains(t, e.logs.String(), "message not replaced")
	assert.Contains(t, e.logs.String(), "status=307")
}
