package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/cardcheck"
)

// The cards of the Teams bot route are checked offline by
// tools/cards/validate.js: Microsoft's adaptivecards parser, the route's
// rules and, when AC_SCHEMA names the Adaptive Cards 1.5 schema file, the
// schema (see tools/cards/README.md). These tests render every card the
// route sends and run it.

// cardCheckFile and cardCheckRun are internal/cardcheck's, shared with
// the other package whose tests check the route's cards.
type (
	cardCheckFile = cardcheck.File
	cardCheckRun  = cardcheck.Result
)

func runCardCheck(t *testing.T, files []cardCheckFile) cardCheckRun { return cardcheck.Run(t, files) }

// cardCheckRequest is an approval request with every field set, its texts
// long and full of Teams markdown, HTML and other text that must show as
// typed.
func cardCheckRequest() approval.Request {
	t0 := time.Date(2026, 3, 1, 12, 34, 56, 0, time.UTC)
	md := "**bold** _italic_ ~~struck~~ `code` [link](https://evil.example/x) <b>html</b> &amp; \\ * # > - 1. | a | b |\n"
	return approval.Request{
		ID:          "apr_0123456789",
		OrgID:       "org-1",
		Title:       "Deploy **payments-api** v1.8.0 to [production](https://evil.example) " + strings.Repeat("_x_ ", 30),
		Description: strings.Repeat(md, 100) + "Ünïcødé, emoji 🚀, RTL \u202eevil\u202c, tab\tend",
		Agent:       "deploy-bot `rm -rf /`",
		Action:      "k8s:Apply *production* namespace",
		RiskScore:   95,
		RequestedBy: "Jane [Doe](https://evil.example) <jane@example.com>",
		ConsoleURL:  "https://console.example.com/approvals/apr_0123456789?tab=details&x=1",
		Status:      approval.StatusPending,
		CreatedAt:   t0,
		ExpiresAt:   t0.Add(time.Hour),
	}
}

// cardCheckDecided is the request decided with status st.
func cardCheckDecided(st approval.Status) approval.Request {
	r := cardCheckRequest()
	at := r.CreatedAt.Add(10 * time.Minute)
	r.Status, r.ReviewedAt, r.ReviewSource = st, &at, approval.SourceTeams
	if st != approval.StatusExpired {
		r.ReviewedBy, r.ReviewerID = "Jane *Doe* [x](https://evil.example)", "eddfa9d4-346e-4cce-a18f-fa6261ad776b"
		r.ReviewNotes = "Looks **fine**; ship it"
	}
	return r
}

const cardCheckTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// botRouteCards renders every card the Teams bot route sends, as the
// PlatformSender does: the posted message activities of each event and
// the activities that replace a copy of a decided request.
func botRouteCards(t *testing.T) []cardCheckFile {
	t.Helper()
	var files []cardCheckFile
	post := func(name, kind string, ev Event) {
		t.Helper()
		b, err := renderTeamsBot(ev, teamsRender{console: eventConsoleURL(ev)}, cardCheckTenant)
		require.NoError(t, err, name)
		files = append(files, cardCheckFile{Name: name + ".json", Kind: kind, Body: b})
	}
	full := cardCheckRequest()
	post("approval_full", "approval", ApprovalRequested{Request: full})
	noConsole := full
	noConsole.ConsoleURL = ""
	post("approval_no_console", "approval", ApprovalRequested{Request: noConsole})
	post("approval_minimal", "approval", ApprovalRequested{Request: approval.Request{ID: "apr_1", OrgID: "org-1"}})
	huge := full
	huge.Title = strings.Repeat("*", 200)
	huge.Description = strings.Repeat("_[`*~\\", 10000/6)
	huge.Agent, huge.Action, huge.RequestedBy = strings.Repeat("a*", 2000), strings.Repeat("b_", 2000), strings.Repeat("c[", 2000)
	post("approval_huge", "approval", &ApprovalRequested{Request: huge})

	post("drift", "alert", DriftAlert{ID: "drift-7", Resource: "aws_security_group.web **x**", Summary: strings.Repeat("Ingress opened _outside_ Terraform. ", 100),
		Expected: "ingress 443 from 10.0.0.0/8", Actual: "ingress 0-65535 from 0.0.0.0/0", Severity: SeverityCritical,
		DetectedAt: full.CreatedAt, ConsoleURL: "https://console.example.com/drift/drift-7"})
	post("drift_minimal", "alert", DriftAlert{Severity: "bizarre"})
	post("agent", "alert", AgentStatusChanged{Agent: "billing-agent", Status: AgentErrored, PreviousStatus: AgentDeployed,
		Reason: "OOMKilled after 3 restarts: **heap** [dump](https://evil.example)", ChangedAt: full.CreatedAt,
		ConsoleURL: "https://console.example.com/agents/billing-agent"})
	post("agent_minimal", "alert", AgentStatusChanged{Status: "unknown"})
	post("test_message", "alert", TestMessage{Text: "This is a test notification from Example Platform."})

	decided := func(name, kind string, r approval.Request) {
		t.Helper()
		b, err := teamsBotDecided(r, cardCheckTenant)
		require.NoError(t, err, name)
		files = append(files, cardCheckFile{Name: name + ".json", Kind: kind, Body: b})
	}
	decided("result_approved", "result=approved", cardCheckDecided(approval.StatusApproved))
	decided("result_denied", "result=denied", cardCheckDecided(approval.StatusDenied))
	decided("result_expired", "result=expired", cardCheckDecided(approval.StatusExpired))
	decided("result_pending", "result=notice", cardCheckRequest())
	return files
}

// TestTeamsBotCardsValidate checks every card of the bot route with
// Microsoft's adaptivecards parser, the route's rules and (with
// AC_SCHEMA) the Adaptive Cards 1.5 schema.
func TestTeamsBotCardsValidate(t *testing.T) {
	files := botRouteCards(t)
	run := runCardCheck(t, files)
	t.Log("validate.js:\n" + run.Out)
	require.Equal(t, 0, run.Exit, "validate.js found invalid cards:\n%s", run.Out)
	for _, f := range files {
		s := run.Sections[f.Name]
		assert.NotContains(t, s, "FAIL", f.Name)
		assert.Contains(t, s, "parser  : ok", f.Name)
		assert.Contains(t, s, "rules   : ok", f.Name)
		if run.Schema {
			assert.Contains(t, s, "schema  : ok", f.Name)
		}
	}
	if !run.Schema {
		t.Log("the Adaptive Cards 1.5 schema check was skipped: set AC_SCHEMA to microsoft/AdaptiveCards' schemas/1.5.0/adaptive-card.json to run it")
	}
}

// TestTeamsBotCardsValidatorCatches breaks the route's cards in the ways
// the check exists for, so that it cannot pass by checking nothing.
func TestTeamsBotCardsValidatorCatches(t *testing.T) {
	var approvalCard, approvedCard []byte
	for _, f := range botRouteCards(t) {
		switch f.Name {
		case "approval_full.json":
			approvalCard = f.Body
		case "result_approved.json":
			approvedCard = f.Body
		}
	}
	require.NotNil(t, approvalCard)
	require.NotNil(t, approvedCard)

	type broken struct {
		name, kind string
		from       []byte
		mutate     func(card map[string]any)
		want       string // in the file's output, besides FAIL
		schemaOnly bool   // only the schema can see it
	}
	actionSet := func(card map[string]any) map[string]any {
		for _, e := range card["body"].([]any) {
			if m := e.(map[string]any); m["type"] == "ActionSet" {
				return m
			}
		}
		t.Fatal("the approval card has no ActionSet")
		return nil
	}
	button := func(card map[string]any, verb string) map[string]any {
		for _, a := range actionSet(card)["actions"].([]any) {
			if m := a.(map[string]any); m["verb"] == verb {
				return m
			}
		}
		t.Fatalf("the approval card has no %s button", verb)
		return nil
	}
	firstText := func(card map[string]any) map[string]any {
		head := card["body"].([]any)[0].(map[string]any)
		return head["items"].([]any)[0].(map[string]any)
	}
	cases := []broken{
		{name: "typo", kind: "approval", from: approvalCard, schemaOnly: true,
			mutate: func(c map[string]any) { tb := firstText(c); tb["wrapp"] = tb["wrap"]; delete(tb, "wrap") },
			want:   "must NOT have additional properties (wrapp)"},
		{name: "typo_verb", kind: "approval", from: approvalCard, schemaOnly: true,
			mutate: func(c map[string]any) { b := button(c, "deny"); b["stlye"] = b["style"]; delete(b, "style") },
			want:   "(stlye)"},
		{name: "no_fallback", kind: "approval", from: approvalCard,
			mutate: func(c map[string]any) { delete(button(c, "deny"), "fallback") },
			want:   "fallback missing, want an Action.Submit with the same data"},
		{name: "fallback_not_submit", kind: "approval", from: approvalCard,
			mutate: func(c map[string]any) { button(c, "approve")["fallback"] = "drop" },
			want:   `fallback "drop", want an Action.Submit`},
		{name: "fallback_other_data", kind: "approval", from: approvalCard,
			mutate: func(c map[string]any) {
				button(c, "approve")["fallback"].(map[string]any)["data"] = map[string]any{"action": "approve", "approval_id": "apr_other"}
			},
			want: "differs from the Action.Execute's"},
		{name: "buttons_in_card_actions", kind: "approval", from: approvalCard,
			mutate: func(c map[string]any) {
				set := actionSet(c)
				c["actions"] = set["actions"]
				var body []any
				for _, e := range c["body"].([]any) {
					if e.(map[string]any)["type"] != "ActionSet" {
						body = append(body, e)
					}
				}
				c["body"] = body
			},
			want: "buttons belong in an ActionSet in the body, not in card.actions"},
		{name: "buttons_in_container", kind: "approval", from: approvalCard,
			mutate: func(c map[string]any) {
				var body []any
				for _, e := range c["body"].([]any) {
					if m := e.(map[string]any); m["type"] == "ActionSet" {
						e = map[string]any{"type": "Container", "items": []any{m}}
					}
					body = append(body, e)
				}
				c["body"] = body
			},
			want: "is not in an ActionSet at the top of the body (nested ActionSet)"},
		{name: "wrong_data", kind: "approval", from: approvalCard,
			mutate: func(c map[string]any) {
				button(c, "approve")["data"] = map[string]any{"action": "deny", "approval_id": "apr_0123456789"}
			},
			want: `want {"action": "approve", "approval_id": "<request ID>"}`},
		{name: "version_1_4", kind: "approval", from: approvalCard,
			mutate: func(c map[string]any) { c["version"] = "1.4" },
			want:   `version "1.4", want "1.5"`},
		{name: "bad_colour", kind: "approval", from: approvalCard,
			mutate: func(c map[string]any) { firstText(c)["color"] = "green" },
			want:   `color "green", want one of`},
		{name: "unknown_element", kind: "approval", from: approvalCard,
			mutate: func(c map[string]any) {
				c["body"] = append(c["body"].([]any), map[string]any{"type": "TextBlok", "text": "x"})
			},
			want: "UnknownElementType"},
		{name: "result_with_button", kind: "result=approved", from: approvedCard,
			mutate: func(c map[string]any) {
				c["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open", "url": "https://console.example.com/"}}
			},
			want: "a result card has no buttons"},
		{name: "result_wrong_colour", kind: "result=approved", from: approvedCard,
			mutate: func(c map[string]any) { c["body"].([]any)[0].(map[string]any)["style"] = "attention" },
			want:   `an approved result card is style "good", got "attention"`},
	}
	files := make([]cardCheckFile, 0, len(cases))
	for _, tc := range cases {
		var activity map[string]any
		require.NoError(t, json.Unmarshal(tc.from, &activity))
		tc.mutate(activity["attachments"].([]any)[0].(map[string]any)["content"].(map[string]any))
		b, err := json.Marshal(activity)
		require.NoError(t, err)
		files = append(files, cardCheckFile{Name: tc.name + ".json", Kind: tc.kind, Body: b})
	}
	run := runCardCheck(t, files)
	t.Log("validate.js:\n" + run.Out)
	assert.Equal(t, 1, run.Exit, "validate.js must fail on broken cards")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := run.Sections[tc.name+".json"]
			if tc.schemaOnly && !run.Schema {
				assert.Contains(t, s, "schema  : skipped")
				t.Skip("only the Adaptive Cards 1.5 schema catches this, and AC_SCHEMA is not set")
			}
			assert.Contains(t, s, "FAIL")
			assert.Contains(t, s, tc.want)
		})
	}
}
