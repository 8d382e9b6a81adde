package teams_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

func TestElementShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		v    any
		want string
	}{
		"text block": {
			teams.TextBlock{Text: "**Title**", Wrap: true, Weight: teams.WeightBolder, Size: teams.SizeLarge, Color: teams.ColorAttention, IsSubtle: true, Spacing: "small", Separator: true},
			`{"type":"TextBlock","text":"**Title**","wrap":true,"weight":"bolder","size":"large","color":"attention","isSubtle":true,"spacing":"small","separator":true}`,
		},
		"text block minimal": {teams.TextBlock{Text: "x"}, `{"type":"TextBlock","text":"x"}`},
		"fact set": {
			teams.FactSet{Facts: []teams.Fact{{Title: "Agent", Value: "deploy-bot"}, {Title: "Risk", Value: "85 (high)"}}},
			`{"type":"FactSet","facts":[{"title":"Agent","value":"deploy-bot"},{"title":"Risk","value":"85 (high)"}]}`,
		},
		"empty fact set": {teams.FactSet{}, `{"type":"FactSet","facts":[]}`},
		"container": {
			teams.Container{Style: teams.StyleGood, Bleed: true, Items: []teams.Element{teams.TextBlock{Text: "ok"}}},
			`{"type":"Container","style":"good","bleed":true,"items":[{"type":"TextBlock","text":"ok"}]}`,
		},
		"empty container": {teams.Container{}, `{"type":"Container","items":[]}`},
		"open url": {
			teams.ActionOpenURL{Title: "Approve", URL: "https://arx.example.com/v1/webhooks/teams/interactions?token=cn1.x.y"},
			`{"type":"Action.OpenUrl","title":"Approve","url":"https://arx.example.com/v1/webhooks/teams/interactions?token=cn1.x.y"}`,
		},
		"submit": {
			teams.ActionSubmit{Title: "Deny", Data: teams.ActionData{Action: "deny", ApprovalID: "req-42"}},
			`{"type":"Action.Submit","title":"Deny","data":{"action":"deny","approval_id":"req-42"}}`,
		},
		"submit with token": {
			teams.ActionSubmit{Title: "Approve", Data: teams.ActionData{Action: "approve", ApprovalID: "req-42", Token: "cn1.a.b"}},
			`{"type":"Action.Submit","title":"Approve","data":{"action":"approve","approval_id":"req-42","token":"cn1.a.b"}}`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			assert.JSONEq(t, tc.want, marshal(t, tc.v))
		})
	}
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
			teams.ApprovedResult("Deploy to prod", "Jane Doe", at),
			`[{"type":"TextBlock","text":"Deploy to prod","wrap":true,"weight":"bolder","size":"medium"},
			  {"type":"TextBlock","text":"**APPROVED** by Jane Doe","wrap":true},
			  {"type":"FactSet","facts":[{"title":"Reviewer","value":"Jane Doe"},{"title":"Time","value":"2026-03-01 11:34 UTC"}]}]`,
		},
		"denied": {
			teams.DeniedResult("Deploy to prod", "Jane Doe", at),
			`[{"type":"TextBlock","text":"Deploy to prod","wrap":true,"weight":"bolder","size":"medium"},
			  {"type":"TextBlock","text":"**DENIED** by Jane Doe","wrap":true},
			  {"type":"FactSet","facts":[{"title":"Reviewer","value":"Jane Doe"},{"title":"Time","value":"2026-03-01 11:34 UTC"}]}]`,
		},
		"warning without title": {
			teams.WarningResult("", "Approval request not found"),
			`[{"type":"TextBlock","text":"Approval request not found","wrap":true}]`,
		},
		"all facts": {
			teams.Result{Title: "T", Status: "S", Style: teams.StyleWarning, Reviewer: "R", At: at, Notes: "Approved by R via Teams",
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

func TestResultStyles(t *testing.T) {
	assert.Equal(t, teams.StyleGood, teams.ApprovedResult("t", "r", time.Time{}).Style)
	assert.Equal(t, teams.StyleAttention, teams.DeniedResult("t", "r", time.Time{}).Style)
	assert.Equal(t, teams.StyleWarning, teams.WarningResult("t", "m").Style)
}

// TestResultCardEscapesUserText checks that a hostile title, reviewer
// name or message cannot inject markdown links or bold text.
func TestResultCardEscapesUserText(t *testing.T) {
	evil := `**urgent** [click](https://evil.example) _x_ ~y~ ` + "`z`" + ` \`
	const escaped = `\*\*urgent\*\* \[click\](https://evil.example) \_x\_ \~y\~ ` + "\\`z\\`" + ` \\`
	for name, r := range map[string]teams.Result{
		"approved": teams.ApprovedResult(evil, evil, time.Time{}),
		"warning":  teams.WarningResult(evil, evil),
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
