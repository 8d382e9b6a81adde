package teams_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/teams"
)

// Sample payloads. The message activity is the official Action.Submit /
// messageBack example of cards-actions.md (protocol.md §7) with our data
// as its value; the invoke follows botframework-schema's
// AdaptiveCardInvokeValue; the command is the body of the §7 HMAC vector.
const (
	sampleMessage = `{"text":"User just clicked the MessageBack button","value":{"action":"approve","approval_id":"req-42"},"type":"message","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/amer-client-ss.msg/","from":{"id":"29:102jd210jd010icsoaeclaejcoa9ue09u","name":"John Smith","aadObjectId":"6b9bd4b1-0c0b-4e5e-9a4b-8d1f3b0a2f11"},"conversation":{"id":"19:malejcou081i20ojmlcau0@thread.skype;messageid=1498171086622"},"recipient":{"id":"28:76096e45-119b-4d36-b0a4-b9cb4fc1a5d4","name":"MyBot"},"channelData":{"tenant":{"id":"bec8e231-9ee2-4a6b-a3d0-1f24b5f1e6a8"}},"replyToId":"1575667808184"}`
	sampleInvoke  = `{"type":"invoke","name":"adaptiveCard/action","channelId":"msteams","value":{"action":{"type":"Action.Execute","id":"approveBtn","verb":"approve","data":{"action":"approve","approval_id":"req-42","token":"cn1.x.y"}},"trigger":"manual"},"from":{"id":"29:1abc","name":"Jane Doe","aadObjectId":"00000000-0000-0000-0000-0000000000aa"},"replyToId":"1575667808184"}`
)

func TestParseInteractionShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		want teams.Interaction
	}{
		"bare data": {
			`{"action":"approve","approval_id":"req-42"}`,
			teams.Interaction{Kind: teams.KindData, ActionData: teams.ActionData{Action: "approve", ApprovalID: "req-42"}},
		},
		"bare data with token and from": {
			`{"action":"deny","approval_id":"req-42","token":"cn1.a.b","from":{"id":"29:1","name":"Amy"}}`,
			teams.Interaction{Kind: teams.KindData, ActionData: teams.ActionData{Action: "deny", ApprovalID: "req-42", Token: "cn1.a.b"}, From: teams.User{ID: "29:1", Name: "Amy"}},
		},
		"bare data with unknown fields": {
			` {"action":"approve","approval_id":"req-42","extra":[1,2]} `,
			teams.Interaction{Kind: teams.KindData, ActionData: teams.ActionData{Action: "approve", ApprovalID: "req-42"}},
		},
		"message activity (official sample)": {
			sampleMessage,
			teams.Interaction{Kind: teams.KindMessage, ActionData: teams.ActionData{Action: "approve", ApprovalID: "req-42"},
				From:      teams.User{ID: "29:102jd210jd010icsoaeclaejcoa9ue09u", Name: "John Smith", AADObjectID: "6b9bd4b1-0c0b-4e5e-9a4b-8d1f3b0a2f11"},
				ReplyToID: "1575667808184"},
		},
		"message activity with messageBack extras": {
			`{"type":"message","value":{"msteams":{"type":"messageBack"},"action":"deny","approval_id":"r1","comment":"no"},"from":{"id":"29:9"}}`,
			teams.Interaction{Kind: teams.KindMessage, ActionData: teams.ActionData{Action: "deny", ApprovalID: "r1"}, From: teams.User{ID: "29:9"}},
		},
		"outgoing webhook command (HMAC vector body)": {
			vectorBody,
			teams.Interaction{Kind: teams.KindCommand, ActionData: teams.ActionData{Action: "approve", ApprovalID: "req-42"}, From: teams.User{ID: "29:1abc", Name: "Jane Doe"}},
		},
		"command with entities and case": {
			`{"type":"message","text":"<at>Approver</at>&nbsp;DENY   req-7\n","from":{"id":"29:2"}}`,
			teams.Interaction{Kind: teams.KindCommand, ActionData: teams.ActionData{Action: "deny", ApprovalID: "req-7"}, From: teams.User{ID: "29:2"}},
		},
		"command with null value": {
			`{"type":"message","text":"approve req-8","value":null}`,
			teams.Interaction{Kind: teams.KindCommand, ActionData: teams.ActionData{Action: "approve", ApprovalID: "req-8"}},
		},
		"invoke": {
			sampleInvoke,
			teams.Interaction{Kind: teams.KindInvoke, ActionData: teams.ActionData{Action: "approve", ApprovalID: "req-42", Token: "cn1.x.y"},
				From: teams.User{ID: "29:1abc", Name: "Jane Doe", AADObjectID: "00000000-0000-0000-0000-0000000000aa"}, ReplyToID: "1575667808184"},
		},
		"invoke with action in verb only": {
			`{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"type":"Action.Execute","verb":"deny","data":{"approval_id":"req-42"}}}}`,
			teams.Interaction{Kind: teams.KindInvoke, ActionData: teams.ActionData{Action: "deny", ApprovalID: "req-42"}},
		},
		"invoke without verb": {
			`{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"type":"Action.Submit","data":{"action":"approve","approval_id":"req-42"}}}}`,
			teams.Interaction{Kind: teams.KindInvoke, ActionData: teams.ActionData{Action: "approve", ApprovalID: "req-42"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := teams.ParseInteraction([]byte(tc.body))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseInteractionErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		err  error
	}{
		"empty":                  {"", teams.ErrMalformed},
		"not json":               {"action=approve", teams.ErrMalformed},
		"truncated":              {`{"action":"approve"`, teams.ErrMalformed},
		"array":                  {`[{"action":"approve","approval_id":"x"}]`, teams.ErrMalformed},
		"string":                 {`"approve"`, teams.ErrMalformed},
		"number id":              {`{"action":"approve","approval_id":42}`, teams.ErrMalformed},
		"object action":          {`{"action":{"verb":"approve"},"approval_id":"x"}`, teams.ErrMalformed},
		"trailing garbage":       {`{"action":"approve","approval_id":"x"} {}`, teams.ErrMalformed},
		"missing id":             {`{"action":"approve"}`, teams.ErrMissingApprovalID},
		"empty id":               {`{"action":"approve","approval_id":""}`, teams.ErrMissingApprovalID},
		"missing action":         {`{"approval_id":"x"}`, teams.ErrUnknownAction},
		"unknown action":         {`{"action":"delete","approval_id":"x"}`, teams.ErrUnknownAction},
		"upper-case action":      {`{"action":"APPROVE","approval_id":"x"}`, teams.ErrUnknownAction},
		"slack action id":        {`{"action":"approve_action","approval_id":"x"}`, teams.ErrUnknownAction},
		"message value array":    {`{"type":"message","value":[1]}`, teams.ErrMalformed},
		"message value string":   {`{"type":"message","value":"approve"}`, teams.ErrMalformed},
		"message without id":     {`{"type":"message","value":{"action":"approve"}}`, teams.ErrMissingApprovalID},
		"message without data":   {`{"type":"message","text":"hello"}`, teams.ErrUnknownAction},
		"command without id":     {`{"type":"message","text":"<at>Approver</at> approve"}`, teams.ErrUnknownAction},
		"command with extra":     {`{"type":"message","text":"approve req-1 now"}`, teams.ErrUnknownAction},
		"other command":          {`{"type":"message","text":"delete req-1"}`, teams.ErrUnknownAction},
		"other activity":         {`{"type":"conversationUpdate"}`, teams.ErrUnsupported},
		"other invoke":           {`{"type":"invoke","name":"task/fetch","value":{}}`, teams.ErrUnsupported},
		"invoke without value":   {`{"type":"invoke","name":"adaptiveCard/action"}`, teams.ErrMalformed},
		"invoke bad data":        {`{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"data":"x"}}}`, teams.ErrMalformed},
		"invoke without id":      {`{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"verb":"approve","data":{}}}}`, teams.ErrMissingApprovalID},
		"invoke verb disagrees":  {`{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"verb":"deny","data":{"action":"approve","approval_id":"x"}}}}`, teams.ErrUnknownAction},
		"invoke unknown verb":    {`{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"verb":"refresh","data":{"approval_id":"x"}}}}`, teams.ErrUnknownAction},
		"from is not an object":  {`{"action":"approve","approval_id":"x","from":"me"}`, teams.ErrMalformed},
		"type is not a string":   {`{"type":1,"action":"approve","approval_id":"x"}`, teams.ErrMalformed},
		"bare data in a message": {`{"type":"message","action":"approve","approval_id":"x"}`, teams.ErrUnknownAction},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := teams.ParseInteraction([]byte(tc.body))
			require.ErrorIs(t, err, tc.err)
		})
	}
}

// TestParseInteractionErrorTextIsSafe checks that no error quotes the
// payload, so handlers may show it.
func TestParseInteractionErrorTextIsSafe(t *testing.T) {
	for _, body := range []string{
		`{"action":"<script>secret</script>","approval_id":"x"}`,
		`{"type":"<script>secret</script>"}`,
		`{"type":"message","text":"<script>secret</script>"}`,
	} {
		_, err := teams.ParseInteraction([]byte(body))
		require.Error(t, err)
		assert.False(t, strings.Contains(err.Error(), "secret"), "error %q quotes the payload", err)
	}
}

func TestUserStableID(t *testing.T) {
	assert.Equal(t, "aad", teams.User{ID: "29:1", AADObjectID: "aad"}.StableID())
	assert.Equal(t, "29:1", teams.User{ID: "29:1", Name: "x"}.StableID())
	assert.Equal(t, "", teams.User{Name: "x"}.StableID())
}
