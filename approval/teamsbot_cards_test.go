package approval_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/cardcheck"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// The cards the bot's messaging endpoint answers Action.Execute clicks
// with (AdaptiveCardInvokeResponse: the card that replaces the clicked
// one) are checked offline by tools/cards/validate.js: Microsoft's
// adaptivecards parser, the route's rules and, when AC_SCHEMA names the
// Adaptive Cards 1.5 schema file, the schema (see tools/cards/README.md).
// notify's teamsbot_cards_test.go checks the cards the bot posts.

// cardsAuth accepts every request, as a valid Bot Framework token would
// be; the tests of the token are in teamsbot_test.go and teams/botauth.
type cardsAuth struct{}

func (cardsAuth) Authenticate(ctx context.Context, authorization string, activity func() (string, string, error)) error {
	_, _, err := activity()
	return err
}

// TestTeamsBotInvokeResponseCardsValidate clicks the approval card's
// buttons through the bot's endpoint and checks every card it answers
// with: approved, denied, a repeated click, an expired request and an
// unknown one.
func TestTeamsBotInvokeResponseCardsValidate(t *testing.T) {
	const (
		tenant = "b28fdbfd-2b78-4f93-b0f8-8881793f0f8f"
		org    = "org-1"
	)
	var (
		mu  sync.Mutex
		now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := memstore.New()
	svc, err := approval.NewService(store, store, &approval.Options{Now: clock})
	require.NoError(t, err)
	h, err := approval.NewTeamsBotHandler(svc, &approval.TeamsBotOptions{
		Authenticator: cardsAuth{},
		OrgID: func(ctx context.Context, tenantID string) (string, error) {
			if tenantID == tenant {
				return org, nil
			}
			return "", errors.New("unknown tenant")
		},
	})
	require.NoError(t, err)

	title := "Deploy **payments-api** v1.8.0 to [production](https://evil.example) `now` " + strings.Repeat("_x_ ", 25)
	for _, id := range []string{"apr_approve", "apr_deny", "apr_expire"} {
		_, err := svc.Create(t.Context(), approval.Request{ID: id, OrgID: org, Title: title,
			Description: strings.Repeat("**bold** _it_ [link](https://evil.example) ", 100),
			Agent:       "deploy-bot", Action: "k8s:Apply", RiskScore: 95, RequestedBy: "user-7",
			ConsoleURL: "https://console.example.com/approvals/" + id, ExpiresAt: clock().Add(time.Hour)})
		require.NoError(t, err)
	}
	click := func(verb, id, name string) []byte {
		t.Helper()
		b, err := json.Marshal(map[string]any{
			"type": "invoke", "name": "adaptiveCard/action", "id": "f:1", "channelId": "msteams",
			"serviceUrl": "https://smba.trafficmanager.net/amer/",
			"from":       map[string]any{"id": "29:1abc", "name": name, "aadObjectId": "eddfa9d4-346e-4cce-a18f-fa6261ad776b"},
			"conversation": map[string]any{"isGroup": true, "conversationType": "channel", "tenantId": tenant,
				"id": "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2;messageid=1575667808184"},
			"recipient":   map[string]any{"id": "28:608cacfd-1cea-40c9-b678-4b93e69bb72b", "name": "Approvals"},
			"channelData": map[string]any{"tenant": map[string]any{"id": tenant}},
			"replyToId":   "1575667808184",
			"value": map[string]any{"trigger": "manual", "action": map[string]any{"type": "Action.Execute", "id": "btn-" + verb,
				"verb": verb, "data": map[string]any{"action": verb, "approval_id": id}}},
		})
		require.NoError(t, err)
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, approval.TeamsBotMessagesPath, strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer token")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Contains(t, w.Body.String(), `"type":"application/vnd.microsoft.card.adaptive"`, "a card answer: %s", w.Body.String())
		return w.Body.Bytes()
	}
	reviewer := "Jane *Doe* [x](https://evil.example) " + strings.Repeat("é", 150)
	files := []cardCheckFile{
		{Name: "invoke_approved.json", Kind: "result=approved", Body: click("approve", "apr_approve", reviewer)},
		{Name: "invoke_denied.json", Kind: "result=denied", Body: click("deny", "apr_deny", reviewer)},
		// Teams retries an invoke, reviewers click twice: the decision on
		// record again.
		{Name: "invoke_repeat_approved.json", Kind: "result=approved", Body: click("approve", "apr_approve", reviewer)},
		{Name: "invoke_repeat_other_verb.json", Kind: "result=denied", Body: click("approve", "apr_deny", "Bob")},
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	files = append(files,
		cardCheckFile{Name: "invoke_expired.json", Kind: "result=expired", Body: click("approve", "apr_expire", "Bob")},
		cardCheckFile{Name: "invoke_not_found.json", Kind: "result=notice", Body: click("deny", "apr_unknown", "Bob")},
	)
	run := runCardCheck(t, files)
	t.Log("validate.js:\n" + run.Out)
	require.Equal(t, 0, run.Exit, "validate.js found invalid cards:\n%s", run.Out)
	for _, f := range files {
		s := run.Sections[f.Name]
		assert.Contains(t, s, "invoke response", f.Name)
		assert.NotContains(t, s, "FAIL", f.Name)
		assert.Contains(t, s, "parser  : ok", f.Name)
		assert.Contains(t, s, "rules   : ok", f.Name)
		if run.Schema {
			assert.Contains(t, s, "schema  : ok", f.Name)
		}
	}

	// The check sees a broken answer: one that keeps the buttons.
	var broken map[string]any
	require.NoError(t, json.Unmarshal(files[0].Body, &broken))
	broken["value"].(map[string]any)["actions"] = []any{map[string]any{"type": "Action.Execute", "title": "Approve", "verb": "approve",
		"data": map[string]any{"action": "approve", "approval_id": "apr_approve"}}}
	b, err := json.Marshal(broken)
	require.NoError(t, err)
	run = runCardCheck(t, []cardCheckFile{{Name: "invoke_with_buttons.json", Kind: "result=approved", Body: b}})
	assert.Equal(t, 1, run.Exit, run.Out)
	assert.Contains(t, run.Sections["invoke_with_buttons.json"], "a result card has no buttons", run.Out)
}

// cardCheckFile and cardCheckRun are internal/cardcheck's, shared with
// the other package whose tests check the route's cards.
type (
	cardCheckFile = cardcheck.File
	cardCheckRun  = cardcheck.Result
)

func runCardCheck(t *testing.T, files []cardCheckFile) cardCheckRun { return cardcheck.Run(t, files) }
