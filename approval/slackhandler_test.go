package approval_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

// slackTestResponseURL is the response_url of the test payloads.
const slackTestResponseURL = "https://hooks.slack.com/actions/T9TK3CUKW/1232321423432/D09sSasdasdAS9091209"

const slackTestSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackEnv is a handler over a serviceEnv, with the handler's logs. Its
// OrgID hook maps workspace T-ORG2 to org-2 and every other one to
// org-1.
type slackEnv struct {
	*serviceEnv
	handler http.Handler
	logs    *syncbuf.Buffer
}

func slackTestOrgID(ctx context.Context, teamID, channelID string) (string, error) {
	switch teamID {
	case "T-ORG2":
		return "org-2", nil
	case "T-NONE":
		return "", nil
	case "T-FAIL":
		return "", errors.New("tenant directory unavailable")
	}
	return "org-1", nil
}

// newSlackEnv builds an unsigned handler (AllowUnsigned) unless opts
// says otherwise; OrgID and Logger are filled in when unset.
func newSlackEnv(t *testing.T, opts *approval.SlackOptions) *slackEnv {
	t.Helper()
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &slackEnv{serviceEnv: newServiceEnv(t, &approval.Options{Logger: logger}), logs: logs}
	o := approval.SlackOptions{AllowUnsigned: true}
	if opts != nil {
		o = *opts
	}
	if o.OrgID == nil {
		o.OrgID = slackTestOrgID
	}
	if o.Logger == nil {
		o.Logger = logger
	}
	h, err := approval.NewSlackHandler(e.svc, &o)
	require.NoError(t, err)
	e.handler = h
	return e
}

// clicks returns the FollowUps of clicks (those with a response_url).
func (e *slackEnv) clicks() []approval.FollowUp {
	var out []approval.FollowUp
	for _, f := range e.recorded() {
		if !f.Decided {
			out = append(out, f)
		}
	}
	return out
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

// signedPost sends a form body signed with slackTestSecret.
func signedPost(t *testing.T, h http.Handler, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.SlackInteractionsPath, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slackverify.Sign(r.Header, []byte(body), time.Now(), slackTestSecret)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const ephemeralPrefix = `{"response_type":"ephemeral","replace_original":false,"text":`

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

			w := post(t, e.handler, formBody(blockActions(tt.actionID, "apr-1", nil, slackTestResponseURL)))

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
			assert.False(t, entries[0].Verified, "an unsigned handler's reviewers are unverified")

			// First the Service's Decided FollowUp (every copy), then the
			// handler's for the clicked message: replace it, no warning.
			assert.Equal(t, []approval.FollowUp{
				{Request: got, Decided: true},
				{Request: got, ResponseURL: slackTestResponseURL},
			}, e.recorded())
		})
	}
}

func TestSlackHandlerIgnoresOtherActions(t *testing.T) {
	for _, actionID := range []string{"view_console", "platform_view_console", "WaXA", "approve", ""} {
		t.Run(actionID, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			e.create(t, approval.Request{ID: "apr-1"})

			w := post(t, e.handler, formBody(blockActions(actionID, "apr-1", nil, slackTestResponseURL)))

			assert.Equal(t, http.StatusOK, w.Code)
			assert.Empty(t, w.Body.String())
			assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
			assert.Empty(t, e.audit(t))
			assert.Empty(t, e.recorded())
		})
	}
}

func TestSlackHandlerAcknowledgesOtherPayloadTypes(t *testing.T) {
	for _, typ := range []string{"view_submission", "view_closed", "shortcut", "message_action", "block_suggestion"} {
		t.Run(typ, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			e.create(t, approval.Request{ID: "apr-1"})
			p := blockActions("approve_action", "apr-1", nil, slackTestResponseURL)
			p["type"] = typ

			w := post(t, e.handler, formBody(p))

			assert.Equal(t, http.StatusOK, w.Code)
			assert.Empty(t, w.Body.String())
			assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
			assert.Empty(t, e.recorded())
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
		return strings.NewReplacer("RESPONSE_URL", slackTestResponseURL, "ACTION", action, "VALUE", "click_me_123").Replace(sample)
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

			w := post(t, e.handler, formBody(legacyAction(tt.name, "apr-7", slackTestResponseURL)))

			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			// Slack replaces a legacy message with this body.
			assert.JSONEq(t, `{"replace_original":true,"text":"`+tt.text+`"}`, w.Body.String())
			got := e.get(t, "apr-7")
			assert.Equal(t, tt.status, got.Status)
			assert.Equal(t, "U045VRZFT", got.ReviewerID)
			assert.Equal(t, []approval.FollowUp{{Request: got, ResponseURL: slackTestResponseURL}}, e.clicks())
		})
	}

	t.Run("already decided", func(t *testing.T) {
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-7"})
		_, err := e.svc.Review(t.Context(), "org-1", "apr-7", approval.Deny, approval.Reviewer{ID: "U1", Name: "bob"}, approval.SourceTeams)
		require.NoError(t, err)

		w := post(t, e.handler, formBody(legacyAction("approve_action", "apr-7", slackTestResponseURL)))

		require.Equal(t, http.StatusOK, w.Code)
		assert.JSONEq(t, ephemeralPrefix+`":warning: Already denied"}`, w.Body.String())
		assert.Empty(t, e.clicks(), "the body already carries the ephemeral answer")
	})
}

func TestSlackHandlerProcessingErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, e *slackEnv)
		id    string
		msg   string
	}{
		{
			name: "not found", id: "apr-missing",
			setup: func(t *testing.T, e *slackEnv) {},
			msg:   "Approval request not found",
		},
		{
			name: "another organisation's request", id: "apr-theirs",
			setup: func(t *testing.T, e *slackEnv) { e.create(t, approval.Request{ID: "apr-theirs", OrgID: "org-2"}) },
			msg:   "Approval request not found",
		},
		{
			name: "already approved", id: "apr-1",
			setup: func(t *testing.T, e *slackEnv) {
				e.create(t, approval.Request{ID: "apr-1"})
				_, err := e.svc.Review(t.Context(), "org-1", "apr-1", approval.Approve, approval.Reviewer{ID: "U2", Name: "bob"}, approval.SourceSlack)
				require.NoError(t, err)
			},
			msg: "Already approved",
		},
		{
			name: "already denied", id: "apr-1",
			setup: func(t *testing.T, e *slackEnv) {
				e.create(t, approval.Request{ID: "apr-1"})
				_, err := e.svc.Review(t.Context(), "org-1", "apr-1", approval.Deny, approval.Reviewer{ID: "U2", Name: "bob"}, approval.SourceTeams)
				require.NoError(t, err)
			},
			msg: "Already denied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			tt.setup(t, e)
			before := len(e.audit(t))
			decidedBefore := len(e.decidedCalls())

			w := post(t, e.handler, formBody(blockActions("approve_action", tt.id, nil, slackTestResponseURL)))

			require.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, ephemeralPrefix+`":warning: `+tt.msg+`"}`, w.Body.String())
			assert.Len(t, e.audit(t), before, "nothing audited")
			assert.Len(t, e.decidedCalls(), decidedBefore, "nothing decided")
			clicks := e.clicks()
			require.Len(t, clicks, 1)
			assert.Equal(t, slackTestResponseURL, clicks[0].ResponseURL)
			assert.Equal(t, tt.msg, clicks[0].Warning, "shown to the clicker only; the original stays")
			if tt.msg == "Approval request not found" {
				assert.Zero(t, clicks[0].Request, "nothing of a request the clicker may not see")
			} else {
				assert.Equal(t, tt.id, clicks[0].Request.ID)
			}
		})
	}
}

// TestSlackHandlerOrganisation checks that the OrgID hook, fed the
// click's team and channel, picks the organisation the click decides in.
func TestSlackHandlerOrganisation(t *testing.T) {
	t.Run("the hook sees the signed team and channel", func(t *testing.T) {
		var gotTeam, gotChannel string
		e := newSlackEnv(t, &approval.SlackOptions{AllowUnsigned: true,
			OrgID: func(ctx context.Context, teamID, channelID string) (string, error) {
				gotTeam, gotChannel = teamID, channelID
				return "org-1", nil
			}})
		e.create(t, approval.Request{ID: "apr-1"})
		post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, "")))
		assert.Equal(t, "T9TK3CUKW", gotTeam)
		assert.Equal(t, "CBR2V3XEX", gotChannel)

		// Without team and channel objects, user.team_id and
		// container.channel_id stand in.
		e.create(t, approval.Request{ID: "apr-2"})
		p := blockActions("approve_action", "apr-2", nil, "")
		delete(p, "team")
		delete(p, "channel")
		post(t, e.handler, formBody(p))
		assert.Equal(t, "T9TK3CUKW", gotTeam)
		assert.Equal(t, "CBR2V3XEX", gotChannel)
		assert.Equal(t, approval.StatusApproved, e.get(t, "apr-2").Status)
	})

	t.Run("the same ID in two organisations", func(t *testing.T) {
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-1", OrgID: "org-1"})
		e.create(t, approval.Request{ID: "apr-1", OrgID: "org-2"})
		p := blockActions("deny_action", "apr-1", nil, "")
		p["team"] = map[string]any{"id": "T-ORG2"}

		w := post(t, e.handler, formBody(p))

		require.JSONEq(t, `{"replace_original":true,"text":":x: *DENIED* by amy"}`, w.Body.String())
		theirs, err := e.store.GetApproval(t.Context(), "org-2", "apr-1")
		require.NoError(t, err)
		assert.Equal(t, approval.StatusDenied, theirs.Status)
		assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status, "org-1's apr-1 is another request")
	})

	for _, team := range []string{"T-NONE", "T-FAIL"} {
		t.Run("no organisation: "+team, func(t *testing.T) {
			e := newSlackEnv(t, nil)
			e.create(t, approval.Request{ID: "apr-1"})
			p := blockActions("approve_action", "apr-1", nil, slackTestResponseURL)
			p["team"] = map[string]any{"id": team}

			w := post(t, e.handler, formBody(p))

			require.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, ephemeralPrefix+`":warning: Approval request not found"}`, w.Body.String())
			assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
			assert.Equal(t, []approval.FollowUp{{ResponseURL: slackTestResponseURL, Warning: "Approval request not found"}}, e.recorded())
			assert.Contains(t, e.logs.String(), "click belongs to no organisation")
			assert.NotContains(t, w.Body.String(), "directory", "the hook's error is logged, never shown")
		})
	}
}

func TestSlackHandlerExpiredReplacesOriginal(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-old", Title: "Rotate keys", RiskScore: 30})
	e.now = e.now.Add(2 * time.Hour) // past the deadline
	const expired = `{"replace_original":true,"text":":warning: Approval request has expired"}`

	w := post(t, e.handler, formBody(blockActions("approve_action", "apr-old", nil, slackTestResponseURL)))

	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, expired, w.Body.String())
	stored := e.get(t, "apr-old")
	assert.Equal(t, approval.StatusExpired, stored.Status)
	entries := e.audit(t)
	require.Len(t, entries, 1)
	assert.Equal(t, approval.AuditExpired, entries[0].Action)

	// A second click finds it expired, without a second audit entry.
	w = post(t, e.handler, formBody(blockActions("deny_action", "apr-old", nil, slackTestResponseURL)))
	assert.JSONEq(t, expired, w.Body.String())
	assert.Len(t, e.audit(t), 1)

	// Expiry replaces the clicked message for everyone, both times; the
	// copies are updated once, by the Service's Decided FollowUp.
	assert.Equal(t, []approval.FollowUp{
		{Request: stored, Decided: true},
		{Request: stored, ResponseURL: slackTestResponseURL},
		{Request: stored, ResponseURL: slackTestResponseURL},
	}, e.recorded())
}

func TestSlackHandlerMalformedRequests(t *testing.T) {
	valid := blockActions("approve_action", "apr-1", nil, slackTestResponseURL)
	with := func(key string, v any) string {
		p := blockActions("approve_action", "apr-1", nil, slackTestResponseURL)
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
		{"JSON null", "", "payload=null", 400, "payload is not a JSON object"},
		{"type not a string", "", with("type", 7), 400, "payload has a field of the wrong type"},
		{"no type", "", with("type", nil), 400, "payload has no type"},
		{"no actions", "", with("actions", nil), 400, "payload has no actions"},
		{"empty actions", "", with("actions", []any{}), 400, "payload has no actions"},
		{"actions not an array", "", with("actions", "approve_action"), 400, "payload has a field of the wrong type"},
		{"team not an object", "", with("team", "T1"), 400, "payload has a field of the wrong type"},
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
			assert.Empty(t, e.recorded())
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
		w := post(t, e.handler, "token=abc&x=%20&"+formBody(blockActions("approve_action", "apr-1", nil, slackTestResponseURL)))
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, approval.StatusApproved, e.get(t, "apr-1").Status)
	})
	t.Run("plus is a space", func(t *testing.T) {
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-1"})
		js, err := json.Marshal(blockActions("approve_action", "apr-1", map[string]any{"id": "U1", "name": "amy smith"}, slackTestResponseURL))
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
			strings.NewReader(formBody(blockActions("approve_action", "apr-1", nil, slackTestResponseURL))))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, approval.StatusApproved, e.get(t, "apr-1").Status)
	})
	t.Run("body too large", func(t *testing.T) {
		e := newSlackEnv(t, &approval.SlackOptions{MaxBodyBytes: 100, AllowUnsigned: true})
		e.create(t, approval.Request{ID: "apr-1"})
		w := post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, slackTestResponseURL)))
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		assert.JSONEq(t, `{"error":"request body is larger than 100 bytes"}`, w.Body.String())
		assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
	})
	t.Run("body too large without Content-Length", func(t *testing.T) {
		e := newSlackEnv(t, &approval.SlackOptions{MaxBodyBytes: 100, AllowUnsigned: true})
		e.create(t, approval.Request{ID: "apr-1"})
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.SlackInteractionsPath,
			strings.NewReader(formBody(blockActions("approve_action", "apr-1", nil, slackTestResponseURL))))
		r.ContentLength = -1
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
	})
	t.Run("duplicate and case-folded keys", func(t *testing.T) {
		// encoding/json's rules: the last duplicate wins, and keys match
		// case-insensitively. Whatever the spelling, one decision.
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-1"})
		e.create(t, approval.Request{ID: "apr-2"})
		payload := `{"type":"block_actions","user":{"id":"U1","name":"amy"},` +
			`"actions":[{"action_id":"approve_action","value":"apr-1","VALUE":"apr-2"}]}`
		w := post(t, e.handler, "payload="+url.QueryEscape(payload))
		require.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, approval.StatusPending, e.get(t, "apr-1").Status)
		assert.Equal(t, approval.StatusApproved, e.get(t, "apr-2").Status)
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
			w := post(t, e.handler, formBody(blockActions("approve_action", "apr-1", tt.user, slackTestResponseURL)))
			require.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{"replace_original":true,"text":":white_check_mark: *APPROVED* by `+tt.want+`"}`, w.Body.String())
			got := e.get(t, "apr-1")
			assert.Equal(t, tt.want, got.ReviewedBy)
			assert.Equal(t, "U1", got.ReviewerID)
		})
	}
}

func TestSlackHandlerVerifier(t *testing.T) {
	v, err := slackverify.New(slackTestSecret, nil)
	require.NoError(t, err)
	e := newSlackEnv(t, &approval.SlackOptions{Verifier: v})
	e.create(t, approval.Request{ID: "apr-1"})
	e.create(t, approval.Request{ID: "apr-2"})

	body := formBody(blockActions("approve_action", "apr-1", nil, slackTestResponseURL))
	w := signedPost(t, e.handler, body)
	require.Equal(t, http.StatusOK, w.Code, "body: %s", w.Body)
	entries := e.audit(t)
	require.Len(t, entries, 1)
	assert.True(t, entries[0].Verified, "signature checked by the handler's Verifier")

	// Unsigned, and tampered, bodies never reach the decision.
	w = post(t, e.handler, formBody(blockActions("approve_action", "apr-2", nil, slackTestResponseURL)))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	forged := formBody(blockActions("approve_action", "apr-2", nil, slackTestResponseURL))
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.SlackInteractionsPath, strings.NewReader(forged))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slackverify.Sign(r.Header, []byte(body), time.Now(), slackTestSecret)
	w = httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, approval.StatusPending, e.get(t, "apr-2").Status)

	// Routing comes first: a GET is 405, not a signature failure.
	r = httptest.NewRequestWithContext(t.Context(), http.MethodGet, approval.SlackInteractionsPath, nil)
	w = httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
}

// TestSlackHandlerVerifiedThroughBodySwappingMiddleware is issue 8's
// middleware defect: with a middleware that replaces r.Body (as chi's
// middleware.RequestSize does) between slackverify's middleware and the
// handler, a verified click was audited as unverified. The handler now
// learns it from the request context.
func TestSlackHandlerVerifiedThroughBodySwappingMiddleware(t *testing.T) {
	v, err := slackverify.New(slackTestSecret, nil)
	require.NoError(t, err)
	requestSize := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			next.ServeHTTP(w, r)
		})
	}
	// A host mounting the verifier itself, with another middleware in
	// between, on a handler built to accept what reaches it.
	e := newSlackEnv(t, &approval.SlackOptions{AllowUnsigned: true})
	e.create(t, approval.Request{ID: "apr-1"})
	h := v.Middleware(requestSize(e.handler))

	w := signedPost(t, h, formBody(blockActions("approve_action", "apr-1", nil, slackTestResponseURL)))

	require.Equal(t, http.StatusOK, w.Code, "body: %s", w.Body)
	entries := e.audit(t)
	require.Len(t, entries, 1)
	assert.True(t, entries[0].Verified)
}

func TestSlackHandlerPassesResponseURLThrough(t *testing.T) {
	// approval sends nothing, so it checks nothing: the receiver of the
	// FollowUp (notify) validates the URL before any use.
	for _, u := range []string{"https://hooks.slack.com.evil.example/actions/T/1/x", "http://127.0.0.1:9/x", "not a url"} {
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-1"})
		post(t, e.handler, formBody(blockActions("approve_action", "apr-1", nil, u)))
		clicks := e.clicks()
		require.Len(t, clicks, 1)
		assert.Equal(t, u, clicks[0].ResponseURL)
		assert.NotContains(t, e.logs.String(), u, "a response_url is a credential: never logged")
	}
}

func TestSlackHandlerEscapesUserText(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-1", Title: "<!channel> drop <db>"})
	w := post(t, e.handler, formBody(blockActions("approve_action", "apr-1",
		map[string]any{"id": "U1", "name": "amy <!here> & co"}, slackTestResponseURL)))
	require.Equal(t, http.StatusOK, w.Code)
	var ack map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ack))
	assert.Equal(t, ":white_check_mark: *APPROVED* by amy &lt;!here&gt; &amp; co", ack["text"])
	assert.NotContains(t, w.Body.String(), "<!here>")
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
				map[string]any{"id": "U" + string(rune('A'+i%26)), "name": "reviewer"}, slackTestResponseURL)))
			bodies[i] = w.Body.String()
		})
	}
	wg.Wait()

	approved, already := 0, 0
	for _, b := range bodies {
		var a struct {
			ResponseType    string `json:"response_type"`
			ReplaceOriginal bool   `json:"replace_original"`
			Text            string `json:"text"`
		}
		require.NoError(t, json.Unmarshal([]byte(b), &a), b)
		switch {
		case a.ReplaceOriginal && a.Text == ":white_check_mark: *APPROVED* by reviewer":
			approved++
		case a.ResponseType == "ephemeral" && !a.ReplaceOriginal && a.Text == ":warning: Already approved":
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

	replaced, warned := 0, 0
	for _, f := range e.clicks() {
		if f.Warning == "" {
			replaced++
		} else {
			warned++
		}
	}
	assert.Equal(t, 1, replaced)
	assert.Equal(t, n-1, warned)
	assert.Len(t, e.decidedCalls(), 1)
}

func TestSlackHandlerRouting(t *testing.T) {
	e := newSlackEnv(t, nil)
	e.create(t, approval.Request{ID: "apr-1"})
	body := formBody(blockActions("approve_action", "apr-1", nil, slackTestResponseURL))

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
	assert.Empty(t, e.clicks(), "nowhere to answer")
	assert.Len(t, e.decidedCalls(), 1, "the copies are still updated")
}

func TestNewSlackHandlerErrors(t *testing.T) {
	st := newTestStore()
	svc, err := approval.NewService(st, st, nil)
	require.NoError(t, err)
	v, err := slackverify.New(slackTestSecret, nil)
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		svc  *approval.Service
		opts *approval.SlackOptions
		ok   bool
	}{
		"no service":           {nil, &approval.SlackOptions{Verifier: v, OrgID: slackTestOrgID}, false},
		"nil options":          {svc, nil, false},
		"no OrgID":             {svc, &approval.SlackOptions{Verifier: v}, false},
		"no verification":      {svc, &approval.SlackOptions{OrgID: slackTestOrgID}, false},
		"negative body":        {svc, &approval.SlackOptions{Verifier: v, OrgID: slackTestOrgID, MaxBodyBytes: -1}, false},
		"verified":             {svc, &approval.SlackOptions{Verifier: v, OrgID: slackTestOrgID}, true},
		"unsigned, explicitly": {svc, &approval.SlackOptions{AllowUnsigned: true, OrgID: slackTestOrgID}, true},
		"both":                 {svc, &approval.SlackOptions{Verifier: v, AllowUnsigned: true, OrgID: slackTestOrgID}, true},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := approval.NewSlackHandler(tc.svc, tc.opts)
			if tc.ok {
				require.NoError(t, err)
				assert.NotNil(t, h)
				return
			}
			require.Error(t, err)
			assert.Nil(t, h)
		})
	}
}

// FuzzSlackHandler feeds arbitrary payloads (and raw bodies) to the
// handler's decoding: it never panics, answers 200 or 400, a 400 with an
// {"error": …} body, and decides only through a well-formed click.
func FuzzSlackHandler(f *testing.F) {
	for _, p := range []any{
		blockActions("approve_action", "apr-1", nil, slackTestResponseURL),
		blockActions("deny_action", "apr-1", map[string]any{"id": "U1"}, ""),
		blockActions("view_console", "apr-1", nil, ""),
		legacyAction("approve_action", "apr-1", slackTestResponseURL),
	} {
		js, _ := json.Marshal(p)
		f.Add(string(js), false)
	}
	for _, s := range []string{
		`{"type":"block_actions","actions":[{"action_id":"approve_action","value":"apr-1"}],"user":{"id":"U1"}}`,
		`{"type":"block_actions","actions":[{"action_id":"approve_action","value":"apr-1","VALUE":"x"}],"User":{"ID":"U1"}}`,
		`{"type":"block_actions","type":"view_submission"}`,
		`{"actions":null,"user":null,"team":null}`,
		`{"type":"block_actions","actions":[null],"user":{"id":"U1"}}`,
		`{"type":"\ud800","actions":[{"action_id":"approve_\u0061ction","value":"\u0000"}],"user":{"id":"U1"}}`,
		`[[[[[[[[[[]]]]]]]]]]`, `{"a":` + strings.Repeat("[", 20000), `null`, `"x"`, `{`, ``, "\xff",
		"payload=%7B%zz", "payload=a&payload=b", "a=1;b=2",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, raw bool) {
		e := newSlackEnv(t, nil)
		e.create(t, approval.Request{ID: "apr-1"})
		body := "payload=" + url.QueryEscape(s)
		if raw {
			body = s
		}
		w := post(t, e.handler, body)
		switch w.Code {
		case http.StatusOK:
			if w.Body.Len() > 0 {
				var a struct {
					Text *string `json:"text"`
				}
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &a), "answer %q", w.Body)
				require.NotNil(t, a.Text, "answer %q", w.Body)
			}
		case http.StatusBadRequest:
			var e struct {
				Error string `json:"error"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), "answer %q", w.Body)
			require.NotEmpty(t, e.Error)
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if got := e.get(t, "apr-1"); got.Status != approval.StatusPending {
			require.Equal(t, http.StatusOK, w.Code, "a decision is always acknowledged with 200")
			require.Len(t, e.audit(t), 1)
		}
	})
}

func ExampleNewSlackHandler() {
	store := newTestStore() // in a host: store/memstore, store/sqlite, store/postgres
	svc, _ := approval.NewService(store, store, &approval.Options{
		FollowUp: func(ctx context.Context, f approval.FollowUp) {
			// In a host: notify's (*Dispatcher).FollowUp.
			fmt.Printf("follow-up: decided=%v response_url=%q warning=%q\n", f.Decided, f.ResponseURL, f.Warning)
		},
	})
	store.CreateApproval(context.Background(), approval.Request{
		ID: "apr-1", OrgID: "acme", Title: "Deploy to production", RiskScore: 40,
	})
	h, err := approval.NewSlackHandler(svc, &approval.SlackOptions{
		// In production, Verifier: slackverify.New(signingSecret, nil).
		AllowUnsigned: true,
		OrgID: func(ctx context.Context, teamID, channelID string) (string, error) {
			return "acme", nil // a host with one organisation
		},
	})
	if err != nil {
		panic(err)
	}

	// Slack POSTs a form whose payload field holds the click.
	payload := `{"type":"block_actions","team":{"id":"T1"},"user":{"id":"U0AMY","username":"amy"},` +
		`"response_url":"https://hooks.slack.com/actions/T1/1/x",` +
		`"actions":[{"action_id":"approve_action","value":"apr-1"}]}`
	r := httptest.NewRequest(http.MethodPost, approval.SlackInteractionsPath,
		strings.NewReader("payload="+url.QueryEscape(payload)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	decided, _ := svc.Get(context.Background(), "acme", "apr-1")
	fmt.Println(decided.Status, "-", decided.ReviewNotes)
	// Output:
	// follow-up: decided=true response_url="" warning=""
	// follow-up: decided=false response_url="https://hooks.slack.com/actions/T1/1/x" warning=""
	// 200 {"replace_original":true,"text":":white_check_mark: *APPROVED* by amy"}
	// approved - Approved by amy via Slack
}
