package approval_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/teams"
)

// The activities of these tests follow the official samples of
// /work/plan/teamsbot.md §5 (msteams-docs, botframework-schema).
const (
	botServiceURL = "https://smba.trafficmanager.net/amer/"
	botTenant     = "b28fdbfd-2b78-4f93-b0f8-8881793f0f8f" // org-1's tenant
	botTenant2    = "0c1d2e3f-0000-4000-8000-000000000002" // org-2's tenant
	botID         = "28:608cacfd-1cea-40c9-b678-4b93e69bb72b"
	botGoodAuth   = "Bearer valid-bot-framework-token"
	janeAAD       = "eddfa9d4-346e-4cce-a18f-fa6261ad776b"
	bobAAD        = "0f5e1c2d-0000-4000-8000-00000000b0b0"
)

// fakeBotAuth stands for teams/botauth.Validator: it accepts
// botGoodAuth only, reads the activity only after the header passed, and
// binds it as the real validator does (channelId endorsed, serviceUrl
// equal to the token's).
type fakeBotAuth struct {
	endorsed   []string
	serviceURL string
	calls      atomic.Int32
}

func (a *fakeBotAuth) Authenticate(ctx context.Context, authorization string, activity func() (string, string, error)) error {
	a.calls.Add(1)
	if authorization != botGoodAuth {
		return errors.New("fakebotauth: bad Authorization header")
	}
	ch, su, err := activity()
	if err != nil {
		return err
	}
	if !slices.Contains(a.endorsed, ch) {
		return errors.New("fakebotauth: channelId not endorsed")
	}
	if su != a.serviceURL {
		return errors.New("fakebotauth: serviceUrl mismatch")
	}
	return nil
}

// convStore is a small teams.ConversationStore following its doc comment
// (store/memstore's is checked by store/storetest).
type convStore struct {
	mu    sync.Mutex
	convs map[orgKey]teams.Conversation
	fail  error
}

func (s *convStore) SaveConversation(ctx context.Context, c teams.Conversation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if s.convs == nil {
		s.convs = map[orgKey]teams.Conversation{}
	}
	s.convs[orgKey{c.OrgID, c.ConversationID}] = c
	return nil
}

func (s *convStore) ListConversations(ctx context.Context, orgID string) ([]teams.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []teams.Conversation{}
	for k, c := range s.convs {
		if k.org == orgID {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b teams.Conversation) int {
		return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), cmp.Compare(a.ConversationID, b.ConversationID))
	})
	return out, nil
}

// botFixture is a bot handler over a testStore, with a settable clock
// and the FollowUps the Service hands over.
type botFixture struct {
	t     testing.TB
	store *testStore
	convs *convStore
	auth  *fakeBotAuth
	svc   *approval.Service
	h     http.Handler
	logs  *syncbuf.Buffer

	mu        sync.Mutex
	now       time.Time
	followUps []approval.FollowUp
}

func (f *botFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *botFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// decided counts the Decided FollowUps of request id.
func (f *botFixture) decided(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, fu := range f.followUps {
		if fu.Decided && fu.Request.ID == id {
			n++
		}
	}
	return n
}

func botOrgOfTenant(ctx context.Context, tenantID string) (string, error) {
	switch tenantID {
	case botTenant:
		return "org-1", nil
	case botTenant2:
		return "org-2", nil
	}
	return "", fmt.Errorf("no organisation in tenant %s", tenantID)
}

func newBotFixture(t testing.TB, tweak func(*approval.Options, *approval.TeamsBotOptions)) *botFixture {
	t.Helper()
	f := &botFixture{t: t, store: newTestStore(), convs: &convStore{}, now: teamsT0, logs: &syncbuf.Buffer{},
		auth: &fakeBotAuth{endorsed: []string{"msteams", "skype"}, serviceURL: botServiceURL}}
	so := &approval.Options{Now: f.clock, FollowUp: func(ctx context.Context, fu approval.FollowUp) {
		f.mu.Lock()
		f.followUps = append(f.followUps, fu)
		f.mu.Unlock()
	}}
	bo := &approval.TeamsBotOptions{Authenticator: f.auth, OrgID: botOrgOfTenant, Conversations: f.convs,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil))}
	if tweak != nil {
		tweak(so, bo)
	}
	var err error
	f.svc, err = approval.NewService(f.store, f.store, so)
	require.NoError(t, err)
	f.h, err = approval.NewTeamsBotHandler(f.svc, bo)
	require.NoError(t, err)
	return f
}

// create stores a pending request of org expiring in an hour.
func (f *botFixture) create(org, id string) approval.Request {
	f.t.Helper()
	r, err := f.svc.Create(f.t.Context(), approval.Request{ID: id, OrgID: org, Title: "Deploy payments-api to production",
		RequestedBy: "user-7", RiskScore: 85, ExpiresAt: f.clock().Add(time.Hour)})
	require.NoError(f.t, err)
	return r
}

func (f *botFixture) get(org, id string) approval.Request {
	f.t.Helper()
	r, err := f.store.GetApproval(f.t.Context(), org, id)
	require.NoError(f.t, err)
	return r
}

// reviews returns the approval.reviewed entries of request id of org.
func (f *botFixture) reviews(org, id string) []approval.AuditEntry {
	f.t.Helper()
	es, err := f.store.ListAudit(f.t.Context(), org, approval.AuditFilter{ApprovalID: id})
	require.NoError(f.t, err)
	var out []approval.AuditEntry
	for _, e := range es {
		if e.Action == approval.AuditReviewed {
			out = append(out, e)
		}
	}
	return out
}

// trackedBody records whether the handler read the request body.
type trackedBody struct {
	r    io.Reader
	read atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

// post sends body to the endpoint with auth as Authorization, reporting
// whether the body was read.
func (f *botFixture) post(auth, body string) (*httptest.ResponseRecorder, bool) {
	tb := &trackedBody{r: strings.NewReader(body)}
	req := httptest.NewRequestWithContext(f.t.Context(), http.MethodPost, approval.TeamsBotMessagesPath, tb)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w, tb.read.Load()
}

// send posts body with the good token.
func (f *botFixture) send(body string) *httptest.ResponseRecorder {
	w, _ := f.post(botGoodAuth, body)
	return w
}

// user is a Teams user in an activity's from.
type user struct{ aad, name string }

var (
	jane = user{janeAAD, "Jane Doe"}
	bob  = user{bobAAD, "Bob Smith"}
)

func (u user) from() map[string]any {
	return map[string]any{"id": "29:1" + u.aad[:8], "name": u.name, "aadObjectId": u.aad}
}

// activity returns the JSON of an activity of type typ from u in org-1's
// tenant (or tenant), with extra fields.
func activity(typ string, u user, tenant string, extra map[string]any) string {
	a := map[string]any{
		"type": typ, "id": "f:1234", "timestamp": "2026-03-01T12:00:00.000Z", "channelId": "msteams",
		"serviceUrl": botServiceURL, "from": u.from(),
		"conversation": map[string]any{"isGroup": true, "conversationType": "channel", "tenantId": tenant,
			"id": "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2;messageid=1575667808184"},
		"recipient":   map[string]any{"id": botID, "name": "Approvals"},
		"channelData": map[string]any{"tenant": map[string]any{"id": tenant}},
		"replyToId":   "1575667808184",
	}
	for k, v := range extra {
		a[k] = v
	}
	b, err := json.Marshal(a)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// invoke is the adaptiveCard/action invoke of an Action.Execute click on
// the approval card's verb button for request id (universal-action-model.md).
func invoke(u user, tenant, verb, id string) string {
	return activity("invoke", u, tenant, map[string]any{"name": "adaptiveCard/action", "value": map[string]any{
		"action":  map[string]any{"type": "Action.Execute", "id": "btn-" + verb, "verb": verb, "data": map[string]any{"action": verb, "approval_id": id}},
		"trigger": "manual",
	}})
}

// submit is the message activity of the Action.Submit fallback's click
// (cards-actions.md).
func submit(u user, tenant, verb, id string) string {
	return activity("message", u, tenant, map[string]any{"value": map[string]any{"action": verb, "approval_id": id}})
}

// invokeAnswer is an AdaptiveCardInvokeResponse with a result card.
type invokeAnswer struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      struct {
		Type    string `json:"type"`
		Version string `json:"version"`
		Body    []struct {
			Type  string `json:"type"`
			Style string `json:"style"`
			Items []struct {
				Type  string       `json:"type"`
				Text  string       `json:"text"`
				Facts []teams.Fact `json:"facts"`
			} `json:"items"`
		} `json:"body"`
		Actions []any `json:"actions"`
		MSTeams struct {
			Width string `json:"width"`
		} `json:"msteams"`
	} `json:"value"`
}

// card decodes the invoke answer w holds, requiring a 200 card answer.
func card(t *testing.T, w *httptest.ResponseRecorder) invokeAnswer {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	var a invokeAnswer
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &a), w.Body.String())
	require.Equal(t, 200, a.StatusCode)
	require.Equal(t, "application/vnd.microsoft.card.adaptive", a.Type)
	require.Equal(t, "AdaptiveCard", a.Value.Type)
	assert.Equal(t, "1.5", a.Value.Version)
	assert.Equal(t, "Full", a.Value.MSTeams.Width)
	assert.Empty(t, a.Value.Actions, "a result card has no buttons")
	assert.NotContains(t, w.Body.String(), "Action.", "a result card has no buttons")
	require.Len(t, a.Value.Body, 1)
	return a
}

// style is the colour of the card's container.
func (a invokeAnswer) style() string { return a.Value.Body[0].Style }

// status is the card's status line: its last TextBlock (after the title,
// when there is one).
func (a invokeAnswer) status() string {
	text := ""
	for _, it := range a.Value.Body[0].Items {
		if it.Type == "TextBlock" {
			text = it.Text
		}
	}
	return text
}

func (a invokeAnswer) facts() []teams.Fact {
	for _, it := range a.Value.Body[0].Items {
		if it.Type == "FactSet" {
			return it.Facts
		}
	}
	return nil
}

// TestTeamsBotInvokeDecides: an Action.Execute click decides through the
// Service with the verified Teams identity, audits it, hands the
// decision over for the other copies, and answers the result card that
// replaces the clicked one: green approved or red denied, reviewer,
// time, notes, risk and request ID (the card notify puts over every
// copy), no buttons.
func TestTeamsBotInvokeDecides(t *testing.T) {
	for _, tc := range []struct {
		verb, style, status, notes string
		st                         approval.Status
	}{
		{"approve", "good", "**APPROVED** by Jane Doe", "Approved by Jane Doe via Teams", approval.StatusApproved},
		{"deny", "attention", "**DENIED** by Jane Doe", "Denied by Jane Doe via Teams", approval.StatusDenied},
	} {
		t.Run(tc.verb, func(t *testing.T) {
			f := newBotFixture(t, nil)
			f.create("org-1", "req-42")
			a := card(t, f.send(invoke(jane, botTenant, tc.verb, "req-42")))
			assert.Equal(t, tc.style, a.style())
			assert.Equal(t, tc.status, a.status())
			assert.Equal(t, []teams.Fact{
				{Title: "Reviewer", Value: "Jane Doe"}, {Title: "Time", Value: "2026-03-01 12:00 UTC"},
				{Title: "Notes", Value: tc.notes}, {Title: "Risk", Value: "85 (high)"}, {Title: "Request ID", Value: "req-42"},
			}, a.facts())

			r := f.get("org-1", "req-42")
			assert.Equal(t, tc.st, r.Status)
			assert.Equal(t, "Jane Doe", r.ReviewedBy)
			assert.Equal(t, janeAAD, r.ReviewerID, "the reviewer's ID is the verified aadObjectId")
			assert.Equal(t, approval.SourceTeams, r.ReviewSource)
			es := f.reviews("org-1", "req-42")
			require.Len(t, es, 1)
			assert.Equal(t, "Jane Doe", es[0].Actor)
			assert.Equal(t, janeAAD, es[0].ActorID)
			assert.True(t, es[0].Verified, "a bot click's identity is verified")
			assert.Equal(t, approval.SourceTeams, es[0].Source)
			assert.Equal(t, tc.st, es[0].Decision)
			assert.Equal(t, 1, f.decided("req-42"), "the decision is handed over once, for the PUT of every copy")
		})
	}
}

// TestTeamsBotInvokeIsIdempotent: Teams retries an invoke answered late,
// and reviewers click again: three repeats make one decision and each
// answers the same result card; a later click by another user on the
// other button shows the decision on record, never an error card.
func TestTeamsBotInvokeIsIdempotent(t *testing.T) {
	f := newBotFixture(t, nil)
	f.create("org-1", "req-42")
	first := f.send(invoke(jane, botTenant, "approve", "req-42"))
	card(t, first)
	f.advance(3 * time.Minute)
	for i := range 3 {
		again := f.send(invoke(jane, botTenant, "approve", "req-42"))
		card(t, again)
		assert.JSONEq(t, first.Body.String(), again.Body.String(), "repeat %d", i)
	}
	other := card(t, f.send(invoke(bob, botTenant, "deny", "req-42")))
	assert.Equal(t, "good", other.style())
	assert.Equal(t, "**APPROVED** by Jane Doe", other.status())
	assert.Len(t, f.reviews("org-1", "req-42"), 1)
	assert.Equal(t, 1, f.decided("req-42"))
	assert.Equal(t, "Jane Doe", f.get("org-1", "req-42").ReviewedBy)
}

// TestTeamsBotConcurrentClicks: two users clicking Approve and Deny at
// once, each several times (Teams' retries included): one decision, and
// every answer is the winner's result card.
func TestTeamsBotConcurrentClicks(t *testing.T) {
	f := newBotFixture(t, nil)
	f.create("org-1", "req-42")
	const n = 20
	answers := make([]*httptest.ResponseRecorder, 2*n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 * n {
		wg.Go(func() {
			<-start
			if i%2 == 0 {
				answers[i] = f.send(invoke(jane, botTenant, "approve", "req-42"))
			} else {
				answers[i] = f.send(submit(bob, botTenant, "deny", "req-42"))
			}
		})
	}
	close(start)
	wg.Wait()
	r := f.get("org-1", "req-42")
	require.Contains(t, []approval.Status{approval.StatusApproved, approval.StatusDenied}, r.Status)
	es := f.reviews("org-1", "req-42")
	require.Len(t, es, 1, "exactly one decision")
	assert.Equal(t, r.ReviewedBy, es[0].Actor)
	assert.Equal(t, 1, f.decided("req-42"))
	want := "**APPROVED** by Jane Doe"
	if r.Status == approval.StatusDenied {
		want = "**DENIED** by Bob Smith"
	}
	for i, w := range answers {
		if i%2 == 1 {
			assert.Equal(t, http.StatusOK, w.Code)
			assert.Empty(t, w.Body.String(), "a Submit click is answered empty")
			continue
		}
		assert.Equal(t, want, card(t, w).status(), "answer %d", i)
	}
}

// TestTeamsBotSubmitFallback: the Action.Submit fallback's click (a
// message activity) decides the same way, answered 200 with an empty
// body; the card is updated through the decided FollowUp. Repeats decide
// nothing more.
func TestTeamsBotSubmitFallback(t *testing.T) {
	f := newBotFixture(t, nil)
	f.create("org-1", "req-42")
	for range 3 {
		w := f.send(submit(jane, botTenant, "deny", "req-42"))
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Empty(t, w.Body.String())
	}
	r := f.get("org-1", "req-42")
	assert.Equal(t, approval.StatusDenied, r.Status)
	assert.Equal(t, janeAAD, r.ReviewerID)
	es := f.reviews("org-1", "req-42")
	require.Len(t, es, 1)
	assert.True(t, es[0].Verified)
	assert.Equal(t, janeAAD, es[0].ActorID)
	assert.Equal(t, 1, f.decided("req-42"))

	// An Execute retry after the Submit decision answers the result card.
	a := card(t, f.send(invoke(jane, botTenant, "deny", "req-42")))
	assert.Equal(t, "attention", a.style())
	assert.Equal(t, "**DENIED** by Jane Doe", a.status())
}

// TestTeamsBotExpired: a click after the deadline expires the request
// (audited, handed over) and answers the amber expired card.
func TestTeamsBotExpired(t *testing.T) {
	f := newBotFixture(t, nil)
	f.create("org-1", "req-42")
	f.advance(2 * time.Hour)
	for range 2 {
		a := card(t, f.send(invoke(jane, botTenant, "approve", "req-42")))
		assert.Equal(t, "warning", a.style())
		assert.Equal(t, "Approval request has expired", a.status())
	}
	assert.Equal(t, approval.StatusExpired, f.get("org-1", "req-42").Status)
	assert.Empty(t, f.reviews("org-1", "req-42"))
	assert.Equal(t, 1, f.decided("req-42"))
}

// TestTeamsBotNotFound: an unknown request, or another organisation's
// (the same ID included), answers the not-found card and decides
// nothing.
func TestTeamsBotNotFound(t *testing.T) {
	f := newBotFixture(t, nil)
	f.create("org-2", "theirs")
	f.create("org-2", "shared")
	f.create("org-1", "shared")
	for _, id := range []string{"no-such-request", "theirs"} {
		a := card(t, f.send(invoke(jane, botTenant, "approve", id)))
		assert.Equal(t, "warning", a.style())
		assert.Equal(t, "Approval request not found", a.status())
		assert.Nil(t, a.facts())
	}
	w := f.send(submit(jane, botTenant, "approve", "theirs"))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, approval.StatusPending, f.get("org-2", "theirs").Status)

	// The tenant picks the organisation: org-1's click on "shared"
	// decides org-1's request only.
	card(t, f.send(invoke(jane, botTenant, "approve", "shared")))
	assert.Equal(t, approval.StatusApproved, f.get("org-1", "shared").Status)
	assert.Equal(t, approval.StatusPending, f.get("org-2", "shared").Status)
	card(t, f.send(invoke(bob, botTenant2, "deny", "shared")))
	assert.Equal(t, approval.StatusDenied, f.get("org-2", "shared").Status)
}

// TestTeamsBotRefusedReviewer: a click the host's policy refuses leaves
// the card as it is (a message for the clicker, not a card) and decides
// nothing; so does a store failure, which the clicker may retry.
func TestTeamsBotRefusedReviewer(t *testing.T) {
	f := newBotFixture(t, func(o *approval.Options, _ *approval.TeamsBotOptions) {
		o.Policy = func(ctx context.Context, r approval.Request, rv approval.Reviewer, src approval.Source) error {
			if rv.ID != janeAAD || !rv.Verified {
				return errors.New("not an approver")
			}
			return nil
		}
	})
	f.create("org-1", "req-42")
	w := f.send(invoke(bob, botTenant, "approve", "req-42"))
	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"statusCode":200,"type":"application/vnd.microsoft.activity.message","value":"You are not allowed to review this request"}`, w.Body.String())
	assert.Equal(t, approval.StatusPending, f.get("org-1", "req-42").Status)
	card(t, f.send(invoke(jane, botTenant, "approve", "req-42")))
}

// TestTeamsBotAuthentication: the Authenticator runs before anything
// else; a refused header is answered 403 without the body being read; a
// refused binding (channelId, serviceUrl) 403 after it; nothing is
// decided or recorded either way.
func TestTeamsBotAuthentication(t *testing.T) {
	for name, tc := range map[string]struct {
		auth, body string
		read       bool
	}{
		"no header":           {"", invoke(jane, botTenant, "approve", "req-42"), false},
		"wrong token":         {"Bearer forged", invoke(jane, botTenant, "approve", "req-42"), false},
		"basic scheme":        {"Basic dXNlcjpwYXNz", invoke(jane, botTenant, "approve", "req-42"), false},
		"HMAC of the webhook": {teamsHMAC("x"), invoke(jane, botTenant, "approve", "req-42"), false},
		"serviceUrl mismatch": {botGoodAuth, strings.Replace(invoke(jane, botTenant, "approve", "req-42"), botServiceURL, "https://evil.example/", 1), true},
		"trailing slash off":  {botGoodAuth, strings.Replace(invoke(jane, botTenant, "approve", "req-42"), botServiceURL, strings.TrimSuffix(botServiceURL, "/"), 1), true},
		"channel not endorsed": {botGoodAuth, strings.Replace(invoke(jane, botTenant, "approve", "req-42"),
			`"channelId":"msteams"`, `"channelId":"webchat"`, 1), true},
		"discovery, no header": {"", botAdded(botTenant), false},
	} {
		t.Run(name, func(t *testing.T) {
			f := newBotFixture(t, nil)
			f.create("org-1", "req-42")
			w, read := f.post(tc.auth, tc.body)
			assert.Equal(t, http.StatusForbidden, w.Code)
			assert.JSONEq(t, `{"error":"Forbidden"}`, w.Body.String())
			assert.Equal(t, tc.read, read, "body read")
			assert.Equal(t, approval.StatusPending, f.get("org-1", "req-42").Status)
			assert.Empty(t, f.convs.convs)
			assert.EqualValues(t, 1, f.auth.calls.Load())
			assert.NotContains(t, f.logs.String(), "forged")
		})
	}
}

// TestTeamsBotUnknownTenant: an authentic activity of a tenant the host
// serves no organisation in is refused 403; nothing decided or recorded.
func TestTeamsBotUnknownTenant(t *testing.T) {
	for name, body := range map[string]string{
		"invoke":    invoke(jane, "ffffffff-0000-4000-8000-000000000000", "approve", "req-42"),
		"submit":    submit(jane, "ffffffff-0000-4000-8000-000000000000", "approve", "req-42"),
		"discovery": botAdded("ffffffff-0000-4000-8000-000000000000"),
		"no tenant": strings.ReplaceAll(invoke(jane, botTenant, "approve", "req-42"), botTenant, ""),
	} {
		t.Run(name, func(t *testing.T) {
			f := newBotFixture(t, nil)
			f.create("org-1", "req-42")
			w := f.send(body)
			assert.Equal(t, http.StatusForbidden, w.Code)
			assert.JSONEq(t, `{"error":"Forbidden"}`, w.Body.String())
			assert.Equal(t, approval.StatusPending, f.get("org-1", "req-42").Status)
			assert.Empty(t, f.convs.convs)
		})
	}
}

// TestTeamsBotMalformed covers bodies and activities the handler cannot
// act on: each gets its answer and decides nothing.
func TestTeamsBotMalformed(t *testing.T) {
	execute := func(action map[string]any) string {
		return activity("invoke", jane, botTenant, map[string]any{"name": "adaptiveCard/action", "value": map[string]any{"action": action}})
	}
	const notSupported = `{"statusCode":400,"type":"application/vnd.microsoft.error","value":{"code":"NotSupported","message":"The action 'Action.Submit' is not supported."}}`
	badRequest := func(msg string) string {
		return `{"statusCode":400,"type":"application/vnd.microsoft.error","value":{"code":"BadRequest","message":"` + msg + `"}}`
	}
	for name, tc := range map[string]struct {
		body   string
		status int
		want   string // the exact JSON answer; "" for an empty body
	}{
		"empty body":        {"", http.StatusBadRequest, `{"error":"Malformed activity"}`},
		"not JSON":          {"type=invoke", http.StatusBadRequest, `{"error":"Malformed activity"}`},
		"JSON array":        {`[{"type":"invoke"}]`, http.StatusBadRequest, `{"error":"Malformed activity"}`},
		"truncated":         {invoke(jane, botTenant, "approve", "req-42")[:80], http.StatusBadRequest, `{"error":"Malformed activity"}`},
		"wrong field types": {`{"channelId":"msteams","serviceUrl":"` + botServiceURL + `","type":"invoke","from":"jane"}`, http.StatusBadRequest, `{"error":"Malformed activity"}`},
		"invoke without value": {activity("invoke", jane, botTenant, map[string]any{"name": "adaptiveCard/action"}),
			http.StatusBadRequest, badRequest("Missing value property")},
		"invoke of Action.Submit": {execute(map[string]any{"type": "Action.Submit", "data": map[string]any{"action": "approve", "approval_id": "req-42"}}),
			http.StatusBadRequest, notSupported},
		"no approval_id": {execute(map[string]any{"type": "Action.Execute", "verb": "approve", "data": map[string]any{"action": "approve"}}),
			http.StatusBadRequest, badRequest("Missing approval_id")},
		"data not an object": {execute(map[string]any{"type": "Action.Execute", "verb": "approve", "data": "req-42"}),
			http.StatusBadRequest, badRequest("Missing approval_id")},
		"unknown verb": {execute(map[string]any{"type": "Action.Execute", "verb": "escalate", "data": map[string]any{"approval_id": "req-42"}}),
			http.StatusBadRequest, badRequest("Unknown action: it must be approve or deny")},
		"verb and data disagree": {execute(map[string]any{"type": "Action.Execute", "verb": "deny", "data": map[string]any{"action": "approve", "approval_id": "req-42"}}),
			http.StatusBadRequest, badRequest("Unknown action: it must be approve or deny")},
		"no from": {strings.Replace(invoke(jane, botTenant, "approve", "req-42"), `"from":{`, `"from_":{`, 1),
			http.StatusBadRequest, badRequest("The activity does not say who clicked (from)")},
		"other invoke":       {activity("invoke", jane, botTenant, map[string]any{"name": "composeExtension/query", "value": map[string]any{}}), http.StatusOK, ""},
		"typed message":      {activity("message", jane, botTenant, map[string]any{"text": "approve req-42"}), http.StatusOK, ""},
		"message, no id":     {activity("message", jane, botTenant, map[string]any{"value": map[string]any{"action": "approve"}}), http.StatusOK, ""},
		"message, bad verb":  {submit(jane, botTenant, "escalate", "req-42"), http.StatusOK, ""},
		"message, value str": {activity("message", jane, botTenant, map[string]any{"value": "approve"}), http.StatusOK, ""},
		"typing":             {activity("typing", jane, botTenant, nil), http.StatusOK, ""},
		"messageReaction":    {activity("messageReaction", jane, botTenant, map[string]any{"reactionsAdded": []any{map[string]any{"type": "like"}}}), http.StatusOK, ""},
		"no type":            {activity("", jane, botTenant, nil), http.StatusOK, ""},
		"another channel":    {strings.Replace(invoke(jane, botTenant, "approve", "req-42"), `"channelId":"msteams"`, `"channelId":"skype"`, 1), http.StatusOK, ""},
	} {
		t.Run(name, func(t *testing.T) {
			f := newBotFixture(t, nil)
			f.create("org-1", "req-42")
			w := f.send(tc.body)
			assert.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.want == "" {
				assert.Empty(t, w.Body.String())
			} else {
				assert.JSONEq(t, tc.want, w.Body.String())
			}
			assert.Equal(t, approval.StatusPending, f.get("org-1", "req-42").Status)
			assert.Empty(t, f.convs.convs)
		})
	}
}

// TestTeamsBotBodyLimit: an authentic request whose body is over
// MaxBodyBytes (256 KiB by default) is answered 413 and decides nothing.
func TestTeamsBotBodyLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		limit int64
		size  int
	}{
		"default": {0, 256<<10 + 1},
		"set":     {1 << 10, 1<<10 + 1},
	} {
		t.Run(name, func(t *testing.T) {
			f := newBotFixture(t, func(_ *approval.Options, o *approval.TeamsBotOptions) { o.MaxBodyBytes = tc.limit })
			f.create("org-1", "req-42")
			click := invoke(jane, botTenant, "approve", "req-42")
			huge := click[:len(click)-1] + `,"text":"` + strings.Repeat("x", tc.size) + `"}`
			w := f.send(huge)
			assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
			assert.Equal(t, approval.StatusPending, f.get("org-1", "req-42").Status)
			// Just under the limit is fine.
			ok := click[:len(click)-1] + `,"text":"` + strings.Repeat("x", int(cmp.Or(tc.limit, 256<<10))-len(click)-20) + `"}`
			card(t, f.send(ok))
		})
	}
}

// FuzzTeamsBotActivity throws arbitrary authentic bodies at the handler:
// it never panics, answers one of its statuses, and never decides a
// request twice.
func FuzzTeamsBotActivity(f *testing.F) {
	for _, seed := range []string{
		invoke(jane, botTenant, "approve", "req-42"), submit(bob, botTenant, "deny", "req-42"),
		botAdded(botTenant), botRemoved(botTenant), botInstallation(botTenant, "remove"),
		`{}`, `{"channelId":"msteams","serviceUrl":"` + botServiceURL + `"}`, `null`, `{"type":"invoke","value":null}`,
	} {
		f.Add(seed)
	}
	fx := newBotFixture(f, nil)
	fx.create("org-1", "req-42")
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, approval.TeamsBotMessagesPath, strings.NewReader(body))
		req.Header.Set("Authorization", botGoodAuth)
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if es, _ := fx.store.ListAudit(context.Background(), "org-1", approval.AuditFilter{ApprovalID: "req-42"}); len(es) > 1 {
			t.Fatalf("request decided %d times", len(es))
		}
	})
}

// botAdded is the conversationUpdate of the bot added to a team, with
// the channel the user picked (subscribe-to-conversation-events.md,
// "Team members added").
func botAdded(tenant string) string {
	return activity("conversationUpdate", jane, tenant, map[string]any{
		"membersAdded": []any{map[string]any{"id": botID}},
		"conversation": map[string]any{"isGroup": true, "conversationType": "channel", "tenantId": tenant,
			"id": "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2", "name": "2021 Test Channel"},
		"channelData": map[string]any{
			"settings":  map[string]any{"selectedChannel": map[string]any{"id": "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2"}},
			"team":      map[string]any{"aadGroupId": "f3ec8cd2-e704-4344-8c47-9a3a21d683c0", "name": "TestTeam2022", "id": "19:zFLSDFWsesfzcmKArqKJ-65aOXJz@thread.tacv2"},
			"eventType": "teamMemberAdded", "tenant": map[string]any{"id": tenant},
		},
	})
}

// botRemoved is the conversationUpdate of the bot removed from the team
// ("Team members removed"): conversation.id is the team's.
func botRemoved(tenant string) string {
	return activity("conversationUpdate", jane, tenant, map[string]any{
		"membersRemoved": []any{map[string]any{"id": botID}},
		"conversation": map[string]any{"isGroup": true, "conversationType": "channel", "tenantId": tenant,
			"id": "19:zFLSDFWsesfzcmKArqKJ-65aOXJz@thread.tacv2"},
		"channelData": map[string]any{
			"team":      map[string]any{"aadGroupId": "f3ec8cd2-e704-4344-8c47-9a3a21d683c0", "name": "TestTeam2022", "id": "19:zFLSDFWsesfzcmKArqKJ-65aOXJz@thread.tacv2"},
			"eventType": "teamMemberRemoved", "tenant": map[string]any{"id": tenant},
		},
	})
}

// botInstallation is the installationUpdate of the app installed in or
// removed from the team ("Installation update event").
func botInstallation(tenant, action string) string {
	return activity("installationUpdate", jane, tenant, map[string]any{
		"action": action,
		"conversation": map[string]any{"isGroup": true, "conversationType": "channel", "tenantId": tenant,
			"id": "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2", "name": "2021 Test Channel"},
		"channelData": map[string]any{
			"settings": map[string]any{"selectedChannel": map[string]any{"id": "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2"}},
			"channel":  map[string]any{"id": "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2"},
			"team":     map[string]any{"aadGroupId": "da849743-4b1a-4f0c-9ab4-1b5c1e8e6f0a", "name": "TestTeam2022", "id": "19:zFLSDFWsesfzcmKArqKJ-65aOXJz@thread.tacv2"},
			"tenant":   map[string]any{"id": tenant}, "source": map[string]any{"name": "message"},
		},
	})
}

const (
	testChannel = "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2"
	testTeam    = "19:zFLSDFWsesfzcmKArqKJ-65aOXJz@thread.tacv2"
)

func (f *botFixture) conversations(org string) []teams.Conversation {
	f.t.Helper()
	cs, err := f.convs.ListConversations(f.t.Context(), org)
	require.NoError(f.t, err)
	return cs
}

// TestTeamsBotDiscovery: the bot's additions and removals are recorded
// per organisation, with the conversation ID to post to.
func TestTeamsBotDiscovery(t *testing.T) {
	added := teams.Conversation{OrgID: "org-1", ConversationID: testChannel, ServiceURL: botServiceURL, TenantID: botTenant,
		TeamID: testTeam, TeamName: "TestTeam2022", Name: "2021 Test Channel", UpdatedAt: teamsT0}

	t.Run("added to a team", func(t *testing.T) {
		f := newBotFixture(t, nil)
		w := f.send(botAdded(botTenant))
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Empty(t, w.Body.String())
		assert.Equal(t, []teams.Conversation{added}, f.conversations("org-1"))
		assert.Empty(t, f.conversations("org-2"))
	})
	t.Run("installed", func(t *testing.T) {
		for _, action := range []string{"add", "add-upgrade"} {
			f := newBotFixture(t, nil)
			assert.Equal(t, http.StatusOK, f.send(botInstallation(botTenant, action)).Code)
			assert.Equal(t, []teams.Conversation{added}, f.conversations("org-1"), action)
		}
	})
	t.Run("another tenant records under its organisation", func(t *testing.T) {
		f := newBotFixture(t, nil)
		f.send(botAdded(botTenant2))
		assert.Empty(t, f.conversations("org-1"))
		got := f.conversations("org-2")
		require.Len(t, got, 1)
		assert.Equal(t, botTenant2, got[0].TenantID)
	})
	t.Run("removed from the team marks the team's conversations removed", func(t *testing.T) {
		f := newBotFixture(t, nil)
		f.send(botAdded(botTenant))
		other := teams.Conversation{OrgID: "org-1", ConversationID: "19:other@thread.tacv2", ServiceURL: botServiceURL, TenantID: botTenant, TeamID: testTeam, UpdatedAt: teamsT0}
		elsewhere := teams.Conversation{OrgID: "org-1", ConversationID: "19:chat@thread.v2", ServiceURL: botServiceURL, TenantID: botTenant, UpdatedAt: teamsT0}
		require.NoError(t, f.convs.SaveConversation(t.Context(), other))
		require.NoError(t, f.convs.SaveConversation(t.Context(), elsewhere))
		f.advance(time.Hour)
		assert.Equal(t, http.StatusOK, f.send(botRemoved(botTenant)).Code)
		byID := map[string]teams.Conversation{}
		for _, c := range f.conversations("org-1") {
			byID[c.ConversationID] = c
		}
		assert.True(t, byID[testChannel].Removed)
		assert.Equal(t, "2021 Test Channel", byID[testChannel].Name, "what the removal does not carry is kept")
		assert.True(t, byID[other.ConversationID].Removed)
		assert.True(t, byID[other.ConversationID].UpdatedAt.Equal(teamsT0.Add(time.Hour)))
		assert.False(t, byID[elsewhere.ConversationID].Removed, "a chat outside the team is untouched")
		assert.True(t, byID[testTeam].Removed, "the team's own conversation (its General channel) is recorded removed")

		// Added back: listed as not removed again.
		f.advance(time.Hour)
		f.send(botAdded(botTenant))
		for _, c := range f.conversations("org-1") {
			if c.ConversationID == testChannel {
				assert.False(t, c.Removed)
			}
		}
	})
	t.Run("uninstalled", func(t *testing.T) {
		for _, action := range []string{"remove", "remove-upgrade"} {
			f := newBotFixture(t, nil)
			f.send(botInstallation(botTenant, "add"))
			f.advance(time.Minute)
			assert.Equal(t, http.StatusOK, f.send(botInstallation(botTenant, action)).Code)
			got := f.conversations("org-1")
			require.Len(t, got, 1, action)
			assert.True(t, got[0].Removed, action)
		}
	})
	t.Run("channel deleted", func(t *testing.T) {
		f := newBotFixture(t, nil)
		f.send(botAdded(botTenant))
		sibling := teams.Conversation{OrgID: "org-1", ConversationID: "19:sibling@thread.tacv2", TeamID: testTeam, UpdatedAt: teamsT0}
		require.NoError(t, f.convs.SaveConversation(t.Context(), sibling))
		f.send(activity("conversationUpdate", jane, botTenant, map[string]any{"channelData": map[string]any{
			"eventType": "channelDeleted", "channel": map[string]any{"id": testChannel, "name": "2021 Test Channel"},
			"team": map[string]any{"id": testTeam}, "tenant": map[string]any{"id": botTenant}}}))
		for _, c := range f.conversations("org-1") {
			assert.Equal(t, c.ConversationID == testChannel, c.Removed, c.ConversationID)
		}
	})
	t.Run("team deleted", func(t *testing.T) {
		f := newBotFixture(t, nil)
		f.send(botAdded(botTenant))
		f.send(activity("conversationUpdate", jane, botTenant, map[string]any{
			"conversation": map[string]any{"id": testTeam, "tenantId": botTenant},
			"channelData": map[string]any{"eventType": "teamDeleted", "team": map[string]any{"id": testTeam},
				"tenant": map[string]any{"id": botTenant}}}))
		for _, c := range f.conversations("org-1") {
			assert.True(t, c.Removed, c.ConversationID)
		}
	})
	t.Run("events that are not about the bot are not recorded", func(t *testing.T) {
		f := newBotFixture(t, nil)
		for _, body := range []string{
			activity("conversationUpdate", jane, botTenant, map[string]any{"membersAdded": []any{map[string]any{"id": "29:someone-else"}},
				"channelData": map[string]any{"eventType": "teamMemberAdded", "team": map[string]any{"id": testTeam}, "tenant": map[string]any{"id": botTenant}}}),
			activity("conversationUpdate", jane, botTenant, map[string]any{"membersRemoved": []any{map[string]any{"id": "29:someone-else"}},
				"channelData": map[string]any{"eventType": "teamMemberRemoved", "tenant": map[string]any{"id": botTenant}}}),
			activity("conversationUpdate", jane, botTenant, map[string]any{"channelData": map[string]any{"eventType": "channelRenamed",
				"channel": map[string]any{"id": testChannel, "name": "Renamed"}, "tenant": map[string]any{"id": botTenant}}}),
			botInstallation(botTenant, "unknown-action"),
		} {
			w := f.send(body)
			assert.Equal(t, http.StatusOK, w.Code)
			assert.Empty(t, w.Body.String())
		}
		assert.Empty(t, f.conversations("org-1"))
	})
	t.Run("without a store nothing is recorded", func(t *testing.T) {
		f := newBotFixture(t, func(_ *approval.Options, o *approval.TeamsBotOptions) { o.Conversations = nil })
		w := f.send(botAdded(botTenant))
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Empty(t, f.convs.convs)
	})
	t.Run("a store failure is a 500", func(t *testing.T) {
		f := newBotFixture(t, nil)
		f.convs.fail = errors.New("disk full")
		w := f.send(botAdded(botTenant))
		assert.Equal(t, http.StatusInternalServerError, w.Code)
		assert.NotContains(t, w.Body.String(), "disk full")
	})
}

func TestNewTeamsBotHandlerRefusesUnsafeConfig(t *testing.T) {
	store := newTestStore()
	svc, err := approval.NewService(store, store, nil)
	require.NoError(t, err)
	auth := &fakeBotAuth{}
	for name, tc := range map[string]struct {
		svc  *approval.Service
		opts *approval.TeamsBotOptions
		want string
	}{
		"no service":       {nil, &approval.TeamsBotOptions{Authenticator: auth, OrgID: botOrgOfTenant}, "needs a Service"},
		"no options":       {svc, nil, "Authenticator"},
		"no authenticator": {svc, &approval.TeamsBotOptions{OrgID: botOrgOfTenant}, "Authenticator"},
		"no OrgID":         {svc, &approval.TeamsBotOptions{Authenticator: auth}, "OrgID"},
		"negative limit":   {svc, &approval.TeamsBotOptions{Authenticator: auth, OrgID: botOrgOfTenant, MaxBodyBytes: -1}, "MaxBodyBytes"},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := approval.NewTeamsBotHandler(tc.svc, tc.opts)
			assert.Nil(t, h)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// TestTeamsBotRouting: POST on the path only, also under a prefix.
func TestTeamsBotRouting(t *testing.T) {
	f := newBotFixture(t, nil)
	f.create("org-1", "req-42")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, approval.TeamsBotMessagesPath, nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	w = httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/messages", strings.NewReader("{}")))
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Zero(t, f.auth.calls.Load())

	mux := http.NewServeMux()
	mux.Handle("/bot/", http.StripPrefix("/bot", f.h))
	req := httptest.NewRequest(http.MethodPost, "/bot"+approval.TeamsBotMessagesPath, strings.NewReader(invoke(jane, botTenant, "approve", "req-42")))
	req.Header.Set("Authorization", botGoodAuth)
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	card(t, w)
}
