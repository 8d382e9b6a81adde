package teams_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/slackmsg"
	"github.com/chatnotify/chatnotify/teams"
)

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestMessageEnvelope checks the webhook envelope against protocol.md §6:
// {"type":"message","attachments":[{"contentType":…,"contentUrl":null,"content":{…}}]}.
func TestMessageEnvelope(t *testing.T) {
	got := marshal(t, teams.NewMessage(teams.NewCard(teams.TextBlock{Text: "Hello", Wrap: true})))
	assert.JSONEq(t, `{"type":"message","attachments":[{
		"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,
		"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4",
			"body":[{"type":"TextBlock","text":"Hello","wrap":true}],
			"msteams":{"width":"Full"}}}]}`, got)
}

func TestZeroCardIsValid(t *testing.T) {
	assert.JSONEq(t, `{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[]}`,
		marshal(t, teams.Card{}))
}

// cardParts marshals a card holding e (when not nil) and a (when not
// nil) and returns its first body element and first action as JSON.
func cardParts(t *testing.T, e teams.Element, a teams.Action) (body, action string) {
	t.Helper()
	c := teams.Card{}
	if e != nil {
		c.Body = []teams.Element{e}
	}
	if a != nil {
		c.Actions = []teams.Action{a}
	}
	var got struct {
		Body    []json.RawMessage `json:"body"`
		Actions []json.RawMessage `json:"actions"`
	}
	require.NoError(t, json.Unmarshal([]byte(marshal(t, c)), &got))
	if len(got.Body) > 0 {
		body = string(got.Body[0])
	}
	if len(got.Actions) > 0 {
		action = string(got.Actions[0])
	}
	return body, action
}

// submitData is the kind of struct a caller puts in ActionSubmit.Data.
type submitData struct {
	Action     string `json:"action"`
	ApprovalID string `json:"approval_id"`
	Token      string `json:"token,omitempty"`
}

func TestElementShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		e    teams.Element
		want string
	}{
		"text block": {
			teams.TextBlock{Text: "**Title**", Wrap: true, Weight: "bolder", Size: "large", Color: "attention", IsSubtle: true, Spacing: "small", Separator: true},
			`{"type":"TextBlock","text":"**Title**","wrap":true,"weight":"bolder","size":"large","color":"attention","isSubtle":true,"spacing":"small","separator":true}`,
		},
		"text block minimal": {teams.TextBlock{Text: "x"}, `{"type":"TextBlock","text":"x"}`},
		"text block pointer": {&teams.TextBlock{Text: "x"}, `{"type":"TextBlock","text":"x"}`},
		"fact set": {
			teams.FactSet{Facts: []teams.Fact{{Title: "Agent", Value: "deploy-bot"}, {Title: "Risk", Value: "85 (high)"}}},
			`{"type":"FactSet","facts":[{"title":"Agent","value":"deploy-bot"},{"title":"Risk","value":"85 (high)"}]}`,
		},
		"empty fact set":   {teams.FactSet{}, `{"type":"FactSet","facts":[]}`},
		"fact set pointer": {&teams.FactSet{}, `{"type":"FactSet","facts":[]}`},
		"container": {
			teams.Container{Style: "good", Bleed: true, Items: []teams.Element{teams.TextBlock{Text: "ok"}}},
			`{"type":"Container","style":"good","bleed":true,"items":[{"type":"TextBlock","text":"ok"}]}`,
		},
		"empty container": {teams.Container{}, `{"type":"Container","items":[]}`},
		"nested container pointers": {
			&teams.Container{Items: []teams.Element{&teams.Container{Items: []teams.Element{&teams.TextBlock{Text: "deep"}}}}},
			`{"type":"Container","items":[{"type":"Container","items":[{"type":"TextBlock","text":"deep"}]}]}`,
		},
		"nil pointer": {(*teams.TextBlock)(nil), `null`},
	} {
		t.Run(name, func(t *testing.T) {
			body, _ := cardParts(t, tc.e, nil)
			assert.JSONEq(t, tc.want, body)
		})
	}
}

func TestActionShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		a    teams.Action
		want string
	}{
		"open url": {
			teams.ActionOpenURL{Title: "Approve", URL: "https://approvals.example.com/v1/webhooks/teams/interactions?token=cn1.x.y"},
			`{"type":"Action.OpenUrl","title":"Approve","url":"https://approvals.example.com/v1/webhooks/teams/interactions?token=cn1.x.y"}`,
		},
		"open url pointer": {&teams.ActionOpenURL{Title: "Open", URL: "https://a"}, `{"type":"Action.OpenUrl","title":"Open","url":"https://a"}`},
		"submit with a map": {
			teams.ActionSubmit{Title: "Deny", Data: map[string]string{"action": "deny", "approval_id": "req-42"}},
			`{"type":"Action.Submit","title":"Deny","data":{"action":"deny","approval_id":"req-42"}}`,
		},
		"submit with a struct": {
			teams.ActionSubmit{Title: "Approve", Data: submitData{Action: "approve", ApprovalID: "req-42", Token: "cn1.a.b"}},
			`{"type":"Action.Submit","title":"Approve","data":{"action":"approve","approval_id":"req-42","token":"cn1.a.b"}}`,
		},
		"submit pointer":      {&teams.ActionSubmit{Title: "Go", Data: map[string]string{"k": "v"}}, `{"type":"Action.Submit","title":"Go","data":{"k":"v"}}`},
		"submit without data": {teams.ActionSubmit{Title: "Go"}, `{"type":"Action.Submit","title":"Go"}`},
	} {
		t.Run(name, func(t *testing.T) {
			_, action := cardParts(t, nil, tc.a)
			assert.JSONEq(t, tc.want, action)
		})
	}
}

// TestCardJSONBytes pins the exact bytes (key order included) of a card
// using every element, field and action, as the package wrote them
// before its constants and MarshalJSON methods were removed: notify's
// golden files depend on them.
func TestCardJSONBytes(t *testing.T) {
	c := teams.NewCard(
		teams.Container{Style: "attention", Bleed: true, Spacing: "medium", Separator: true, Items: []teams.Element{
			teams.TextBlock{Text: "Approval requested", Weight: "bolder", IsSubtle: true, Wrap: true},
			teams.TextBlock{Text: "Deploy \\*prod\\*", Weight: "bolder", Size: "large", Wrap: true},
			teams.TextBlock{Text: "**🔴 High risk (82)**", Color: "attention", Wrap: true},
		}},
		teams.TextBlock{Text: "<b>&amp;</b>", Spacing: "small", Separator: true},
		teams.FactSet{Facts: []teams.Fact{{Title: "Risk", Value: "high (82)"}}, Spacing: "none", Separator: true},
	)
	c.Actions = []teams.Action{
		teams.ActionOpenURL{Title: "Approve", URL: "https://approvals.example.com/t?token=a&b=c"},
		teams.ActionSubmit{Title: "Deny", Data: submitData{Action: "deny", ApprovalID: "req-42", Token: "cn1.a.b"}},
	}
	const want = `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":` +
		`{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[` +
		`{"type":"Container","items":[{"type":"TextBlock","text":"Approval requested","wrap":true,"weight":"bolder","isSubtle":true},` +
		`{"type":"TextBlock","text":"Deploy \\*prod\\*","wrap":true,"weight":"bolder","size":"large"},` +
		`{"type":"TextBlock","text":"**🔴 High risk (82)**","wrap":true,"color":"attention"}],"style":"attention","bleed":true,"spacing":"medium","separator":true},` +
		`{"type":"TextBlock","text":"\u003cb\u003e\u0026amp;\u003c/b\u003e","spacing":"small","separator":true},` +
		`{"type":"FactSet","facts":[{"title":"Risk","value":"high (82)"}],"spacing":"none","separator":true}],` +
		`"actions":[{"type":"Action.OpenUrl","title":"Approve","url":"https://approvals.example.com/t?token=a\u0026b=c"},` +
		`{"type":"Action.Submit","title":"Deny","data":{"action":"deny","approval_id":"req-42","token":"cn1.a.b"}}],` +
		`"msteams":{"width":"Full"}}}]}`
	assert.Equal(t, want, marshal(t, teams.NewMessage(c)))
}

func TestCardWithActions(t *testing.T) {
	c := teams.Card{
		Body:    []teams.Element{teams.TextBlock{Text: "Deploy to prod?"}},
		Actions: []teams.Action{teams.ActionOpenURL{Title: "Approve", URL: "https://a/1"}, teams.ActionOpenURL{Title: "Deny", URL: "https://a/2"}},
	}
	assert.JSONEq(t, `{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4",
		"body":[{"type":"TextBlock","text":"Deploy to prod?"}],
		"actions":[{"type":"Action.OpenUrl","title":"Approve","url":"https://a/1"},{"type":"Action.OpenUrl","title":"Deny","url":"https://a/2"}]}`,
		marshal(t, c))
}

// TestInvokeResponse checks the AdaptiveCardInvokeResponse shape of the
// Bot Framework schema: {statusCode, type, value}.
func TestInvokeResponse(t *testing.T) {
	got := marshal(t, teams.NewInvokeResponse(teams.NewCard(teams.TextBlock{Text: "done"})))
	assert.JSONEq(t, `{"statusCode":200,"type":"application/vnd.microsoft.card.adaptive",
		"value":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4",
			"body":[{"type":"TextBlock","text":"done"}],"msteams":{"width":"Full"}}}`, got)
}

func TestResultCard(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 34, 56, 0, time.FixedZone("CET", 3600))
	for name, tc := range map[string]struct {
		r    teams.Result
		want string
	}{
		"approved": {
			teams.DecisionResult("Deploy to prod", true, "Jane Doe", at),
			`[{"type":"TextBlock","text":"Deploy to prod","wrap":true,"weight":"bolder","size":"medium"},
			  {"type":"TextBlock","text":"**APPROVED** by Jane Doe","wrap":true},
			  {"type":"FactSet","facts":[{"title":"Reviewer","value":"Jane Doe"},{"title":"Time","value":"2026-03-01 11:34 UTC"}]}]`,
		},
		"denied": {
			teams.DecisionResult("Deploy to prod", false, "Jane Doe", at),
			`[{"type":"TextBlock","text":"Deploy to prod","wrap":true,"weight":"bolder","size":"medium"},
			  {"type":"TextBlock","text":"**DENIED** by Jane Doe","wrap":true},
			  {"type":"FactSet","facts":[{"title":"Reviewer","value":"Jane Doe"},{"title":"Time","value":"2026-03-01 11:34 UTC"}]}]`,
		},
		"warning without title": {
			teams.Result{Status: "Approval request not found", Style: "warning"},
			`[{"type":"TextBlock","text":"Approval request not found","wrap":true}]`,
		},
		"all facts": {
			teams.Result{Title: "T", Status: "S", Style: "warning", Reviewer: "R", At: at, Notes: "Approved by R via Teams",
				Facts: []teams.Fact{{Title: "Agent", Value: "bot_1"}}},
			`[{"type":"TextBlock","text":"T","wrap":true,"weight":"bolder","size":"medium"},
			  {"type":"TextBlock","text":"S","wrap":true},
			  {"type":"FactSet","facts":[{"title":"Reviewer","value":"R"},{"title":"Time","value":"2026-03-01 11:34 UTC"},
			    {"title":"Notes","value":"Approved by R via Teams"},{"title":"Agent","value":"bot\\_1"}]}]`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			var got struct {
				Body []struct {
					Type  string          `json:"type"`
					Style string          `json:"style"`
					Bleed bool            `json:"bleed"`
					Items json.RawMessage `json:"items"`
				} `json:"body"`
				MSTeams struct {
					Width string `json:"width"`
				} `json:"msteams"`
			}
			require.NoError(t, json.Unmarshal([]byte(marshal(t, teams.ResultCard(tc.r))), &got))
			require.Len(t, got.Body, 1)
			assert.Equal(t, "Container", got.Body[0].Type)
			assert.Equal(t, string(tc.r.Style), got.Body[0].Style)
			assert.True(t, got.Body[0].Bleed)
			assert.Equal(t, "Full", got.MSTeams.Width)
			assert.JSONEq(t, tc.want, string(got.Body[0].Items))
		})
	}
}

func TestDecisionResult(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC)
	assert.Equal(t, teams.Result{Title: "t", Status: "**APPROVED** by Jane", Style: "good", Reviewer: "Jane", At: at},
		teams.DecisionResult("t", true, "Jane", at))
	assert.Equal(t, teams.Result{Title: "t", Status: "**DENIED** by Jane", Style: "attention", Reviewer: "Jane", At: at},
		teams.DecisionResult("t", false, "Jane", at))
}

// TestResultTimeMatchesSlack checks that the result card's time reads as
// the plain date of the Slack messages: one date format for both.
func TestResultTimeMatchesSlack(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 34, 56, 0, time.FixedZone("CET", 3600))
	var got struct {
		Body []struct {
			Items []struct {
				Facts []teams.Fact `json:"facts"`
			} `json:"items"`
		} `json:"body"`
	}
	require.NoError(t, json.Unmarshal([]byte(marshal(t, teams.ResultCard(teams.Result{At: at}))), &got))
	require.Len(t, got.Body, 1)
	require.Len(t, got.Body[0].Items, 2)
	assert.Equal(t, []teams.Fact{{Title: "Time", Value: slackmsg.PlainTime(at)}}, got.Body[0].Items[1].Facts)
	assert.Equal(t, "2026-03-01 11:34 UTC", slackmsg.PlainTime(at))
}

// TestResultCardEscapesUserText checks that a hostile title, reviewer
// name or message cannot inject markdown links or bold text.
func TestResultCardEscapesUserText(t *testing.T) {
	evil := `**urgent** [click](https://evil.example) _x_ ~y~ ` + "`z`" + ` \`
	const escaped = `\*\*urgent\*\* \[click\](https://evil.example) \_x\_ \~y\~ ` + "\\`z\\`" + ` \\`
	for name, r := range map[string]teams.Result{
		"approved": teams.DecisionResult(evil, true, evil, time.Time{}),
		"denied":   teams.DecisionResult(evil, false, evil, time.Time{}),
	} {
		t.Run(name, func(t *testing.T) {
			c := teams.ResultCard(r)
			items := c.Body[0].(teams.Container).Items
			assert.Equal(t, escaped, items[0].(teams.TextBlock).Text)
			assert.Contains(t, items[1].(teams.TextBlock).Text, escaped)
			assert.NotContains(t, items[1].(teams.TextBlock).Text, "[click]")
		})
	}
}

func TestEscapeMarkdown(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "",
		"Jane Doe":            "Jane Doe",
		"a*b_c":               `a\*b\_c`,
		"[x](y)":              `\[x\](y)`,
		`back\slash`:          `back\\slash`,
		"Zoë <b>":             "Zoë <b>",
		"deploy-bot v1.2 #45": "deploy-bot v1.2 #45",
	} {
		assert.Equal(t, want, teams.EscapeMarkdown(in), "EscapeMarkdown(%q)", in)
	}
}
