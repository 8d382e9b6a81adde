package teams_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/teams"
)

// botData is the data of the bot route's Approve and Deny buttons.
type botData struct {
	Action     string `json:"action"`
	ApprovalID string `json:"approval_id"`
}

// botCard is an approval card of the bot route, the shape notify builds:
// version 1.5, full width, the buttons as Action.Execute in an ActionSet.
func botCard() teams.Card {
	c := teams.NewCard(
		teams.TextBlock{Text: "Deploy to production", Weight: "bolder", Wrap: true},
		teams.ActionSet{Actions: []teams.Action{
			teams.ActionExecute{Title: "Approve", Verb: "approve", Data: botData{"approve", "req-42"}, Style: "positive"},
			teams.ActionExecute{Title: "Deny", Verb: "deny", Data: botData{"deny", "req-42"}, Style: "destructive"},
		}},
	)
	c.Version = "1.5"
	return c
}

// TestBotCardJSON pins the wire form of a bot-route card: version 1.5,
// msteams width Full, an ActionSet in the body holding Action.Execute
// buttons, each with a fallback Action.Submit of the same title, style
// and data (teamsbot.md §4).
func TestBotCardJSON(t *testing.T) {
	assert.JSONEq(t, `{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.5",
		"body":[
			{"type":"TextBlock","text":"Deploy to production","wrap":true,"weight":"bolder"},
			{"type":"ActionSet","actions":[
				{"type":"Action.Execute","title":"Approve","verb":"approve","data":{"action":"approve","approval_id":"req-42"},"style":"positive",
				 "fallback":{"type":"Action.Submit","title":"Approve","data":{"action":"approve","approval_id":"req-42"},"style":"positive"}},
				{"type":"Action.Execute","title":"Deny","verb":"deny","data":{"action":"deny","approval_id":"req-42"},"style":"destructive",
				 "fallback":{"type":"Action.Submit","title":"Deny","data":{"action":"deny","approval_id":"req-42"},"style":"destructive"}}]}],
		"msteams":{"width":"Full"}}`, marshal(t, botCard()))
}

// TestExecuteFallbackCarriesTheSameData decodes each Action.Execute of
// the bot card back and compares its data with its fallback's, byte for
// byte: an old client's Submit click must decide exactly what the
// Execute click would.
func TestExecuteFallbackCarriesTheSameData(t *testing.T) {
	var got struct {
		Version string `json:"version"`
		Actions []any  `json:"actions"`
		Body    []struct {
			Type    string `json:"type"`
			Actions []struct {
				Type     string          `json:"type"`
				Title    string          `json:"title"`
				Verb     string          `json:"verb"`
				Data     json.RawMessage `json:"data"`
				Fallback struct {
					Type  string          `json:"type"`
					Title string          `json:"title"`
					Data  json.RawMessage `json:"data"`
				} `json:"fallback"`
			} `json:"actions"`
		} `json:"body"`
	}
	require.NoError(t, json.Unmarshal([]byte(marshal(t, botCard())), &got))
	assert.Equal(t, "1.5", got.Version)
	assert.Empty(t, got.Actions, "the buttons belong in the ActionSet, not in card.actions")
	require.Len(t, got.Body, 2)
	set := got.Body[1]
	require.Equal(t, "ActionSet", set.Type)
	require.Len(t, set.Actions, 2)
	for i, verb := range []string{"approve", "deny"} {
		a := set.Actions[i]
		assert.Equal(t, "Action.Execute", a.Type)
		assert.Equal(t, verb, a.Verb)
		assert.JSONEq(t, `{"action":"`+verb+`","approval_id":"req-42"}`, string(a.Data))
		assert.Equal(t, "Action.Submit", a.Fallback.Type)
		assert.Equal(t, a.Title, a.Fallback.Title)
		assert.Equal(t, string(a.Data), string(a.Fallback.Data), "the fallback's data must be the Execute's")
	}
}

func TestBotRouteShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		e    teams.Element
		want string
	}{
		"execute without data or style": {
			teams.ActionSet{Actions: []teams.Action{teams.ActionExecute{Title: "Go", Verb: "go"}}},
			`{"type":"ActionSet","actions":[{"type":"Action.Execute","title":"Go","verb":"go","fallback":{"type":"Action.Submit","title":"Go"}}]}`,
		},
		"execute pointer with a map": {
			&teams.ActionSet{Actions: []teams.Action{&teams.ActionExecute{Title: "Go", Verb: "go", Data: map[string]string{"k": "v"}}}},
			`{"type":"ActionSet","actions":[{"type":"Action.Execute","title":"Go","verb":"go","data":{"k":"v"},
				"fallback":{"type":"Action.Submit","title":"Go","data":{"k":"v"}}}]}`,
		},
		"mixed actions, spacing and separator": {
			teams.ActionSet{Spacing: "medium", Separator: true, Actions: []teams.Action{
				teams.ActionOpenURL{Title: "Open", URL: "https://a"}, teams.ActionSubmit{Title: "S"}}},
			`{"type":"ActionSet","spacing":"medium","separator":true,"actions":[
				{"type":"Action.OpenUrl","title":"Open","url":"https://a"},{"type":"Action.Submit","title":"S"}]}`,
		},
		"empty action set":   {teams.ActionSet{}, `{"type":"ActionSet","actions":[]}`},
		"nil set pointer":    {(*teams.ActionSet)(nil), `null`},
		"nil action pointer": {teams.ActionSet{Actions: []teams.Action{(*teams.ActionExecute)(nil)}}, `{"type":"ActionSet","actions":[null]}`},
	} {
		t.Run(name, func(t *testing.T) {
			body, _ := cardParts(t, tc.e, nil)
			assert.JSONEq(t, tc.want, body)
		})
	}
}

// An Action.Execute may also sit in card.actions; it keeps its fallback
// there too.
func TestExecuteInCardActions(t *testing.T) {
	_, action := cardParts(t, nil, teams.ActionExecute{Title: "Deny", Verb: "deny", Data: botData{"deny", "r"}})
	assert.JSONEq(t, `{"type":"Action.Execute","title":"Deny","verb":"deny","data":{"action":"deny","approval_id":"r"},
		"fallback":{"type":"Action.Submit","title":"Deny","data":{"action":"deny","approval_id":"r"}}}`, action)
}

// TestCardVersion: the default stays 1.4 (webhooks and Workflows), a
// bot-route card declares what it sets, also inside an invoke response.
func TestCardVersion(t *testing.T) {
	var got struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal([]byte(marshal(t, teams.NewCard())), &got))
	assert.Equal(t, "1.4", got.Version)

	c := teams.ResultCard(teams.Result{Status: "done"})
	c.Version = "1.5"
	var inv struct {
		StatusCode int    `json:"statusCode"`
		Type       string `json:"type"`
		Value      struct {
			Type    string `json:"type"`
			Version string `json:"version"`
			MSTeams struct {
				Width string `json:"width"`
			} `json:"msteams"`
		} `json:"value"`
	}
	require.NoError(t, json.Unmarshal([]byte(marshal(t, teams.NewInvokeResponse(c))), &inv))
	assert.Equal(t, 200, inv.StatusCode)
	assert.Equal(t, "application/vnd.microsoft.card.adaptive", inv.Type)
	assert.Equal(t, "AdaptiveCard", inv.Value.Type)
	assert.Equal(t, "1.5", inv.Value.Version)
	assert.Equal(t, "Full", inv.Value.MSTeams.Width)
}

// The JSON form of a discovered conversation, as the settings API lists
// it: the organisation stays out.
func TestConversationJSON(t *testing.T) {
	c := teams.Conversation{OrgID: "acme", ConversationID: "19:abc@thread.tacv2", ServiceURL: "https://smba.trafficmanager.net/amer/",
		TenantID: "t-1", TeamID: "19:team@thread.tacv2", TeamName: "Ops", Name: "General", Removed: true}
	assert.JSONEq(t, `{"conversation_id":"19:abc@thread.tacv2","service_url":"https://smba.trafficmanager.net/amer/","tenant_id":"t-1",
		"team_id":"19:team@thread.tacv2","team_name":"Ops","name":"General","removed":true,"updated_at":"0001-01-01T00:00:00Z"}`, marshal(t, c))
}
