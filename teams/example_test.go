package teams_test

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/chatnotify/chatnotify/teams"
)

// A card for an incoming webhook: Approve and Deny are links, because
// Teams drops Action.Submit from webhook cards. The links (signed action
// tokens in package approval) are placeholders here.
func ExampleNewMessage() {
	card := teams.NewCard(
		teams.TextBlock{Text: "Deploy to production", Weight: "bolder", Size: "large", Wrap: true},
		teams.FactSet{Facts: []teams.Fact{{Title: "Agent", Value: teams.EscapeMarkdown("deploy_bot")}}},
	)
	card.Actions = []teams.Action{
		teams.ActionOpenURL{Title: "Approve", URL: "https://approvals.example.com/approve"},
		teams.ActionOpenURL{Title: "Deny", URL: "https://approvals.example.com/deny"},
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(teams.NewMessage(card))
	// Output:
	// {
	//   "type": "message",
	//   "attachments": [
	//     {
	//       "contentType": "application/vnd.microsoft.card.adaptive",
	//       "contentUrl": null,
	//       "content": {
	//         "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
	//         "type": "AdaptiveCard",
	//         "version": "1.4",
	//         "body": [
	//           {
	//             "type": "TextBlock",
	//             "text": "Deploy to production",
	//             "wrap": true,
	//             "weight": "bolder",
	//             "size": "large"
	//           },
	//           {
	//             "type": "FactSet",
	//             "facts": [
	//               {
	//                 "title": "Agent",
	//                 "value": "deploy\\_bot"
	//               }
	//             ]
	//           }
	//         ],
	//         "actions": [
	//           {
	//             "type": "Action.OpenUrl",
	//             "title": "Approve",
	//             "url": "https://approvals.example.com/approve"
	//           },
	//           {
	//             "type": "Action.OpenUrl",
	//             "title": "Deny",
	//             "url": "https://approvals.example.com/deny"
	//           }
	//         ],
	//         "msteams": {
	//           "width": "Full"
	//         }
	//       }
	//     }
	//   ]
	// }
}

// The card that replaces an approval request once it is decided.
func ExampleResultCard() {
	at := time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC)
	card := teams.ResultCard(teams.DecisionResult("Deploy to production", true, "Jane Doe", at))
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(card)
	// Output:
	// {
	//   "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
	//   "type": "AdaptiveCard",
	//   "version": "1.4",
	//   "body": [
	//     {
	//       "type": "Container",
	//       "items": [
	//         {
	//           "type": "TextBlock",
	//           "text": "Deploy to production",
	//           "wrap": true,
	//           "weight": "bolder",
	//           "size": "medium"
	//         },
	//         {
	//           "type": "TextBlock",
	//           "text": "**APPROVED** by Jane Doe",
	//           "wrap": true
	//         },
	//         {
	//           "type": "FactSet",
	//           "facts": [
	//             {
	//               "title": "Reviewer",
	//               "value": "Jane Doe"
	//             },
	//             {
	//               "title": "Time",
	//               "value": "2026-03-01 12:34 UTC"
	//             }
	//           ]
	//         }
	//       ],
	//       "style": "good",
	//       "bleed": true
	//     }
	//   ],
	//   "msteams": {
	//     "width": "Full"
	//   }
	// }
}

// Checking a Teams outgoing webhook's Authorization header against the
// raw body.
func ExampleHMACVerifier() {
	v, err := teams.NewHMACVerifier("vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA=")
	if err != nil {
		panic(err)
	}
	body := []byte(`{"type":"message","text":"<at>Approver</at> approve req-42","from":{"id":"29:1abc","name":"Jane Doe"}}`)
	fmt.Println(v.Verify("HMAC YEH5hC22I19XiggMoFUxxrv5DeNJkn6WQQY8vgHwOIo=", body))
	fmt.Println(v.Verify("HMAC YEH5hC22I19XiggMoFUxxrv5DeNJkn6WQQY8vgHwOIo=", append(body, ' ')))
	// Output:
	// <nil>
	// teams: invalid HMAC authorization
}

// The answer to an Action.Execute click, and a warning result for a
// request that was already decided.
func ExampleNewInvokeResponse() {
	res := teams.Result{
		Title:  "Deploy to production",
		Status: teams.EscapeMarkdown("Already approved"),
		Style:  "warning",
	}
	b, _ := json.Marshal(teams.NewInvokeResponse(teams.ResultCard(res)))
	fmt.Println(string(b))
	// Output:
	// {"statusCode":200,"type":"application/vnd.microsoft.card.adaptive","value":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[{"type":"Container","items":[{"type":"TextBlock","text":"Deploy to production","wrap":true,"weight":"bolder","size":"medium"},{"type":"TextBlock","text":"Already approved","wrap":true}],"style":"warning","bleed":true}],"msteams":{"width":"Full"}}}
}

// A card sent through a bot: version 1.5, Approve and Deny as
// Action.Execute buttons in an ActionSet, each written with its
// Action.Submit fallback.
func ExampleActionExecute() {
	type data struct {
		Action     string `json:"action"`
		ApprovalID string `json:"approval_id"`
	}
	card := teams.NewCard(
		teams.TextBlock{Text: "Deploy to production", Weight: "bolder", Wrap: true},
		teams.ActionSet{Actions: []teams.Action{
			teams.ActionExecute{Title: "Approve", Verb: "approve", Data: data{"approve", "req-42"}},
			teams.ActionExecute{Title: "Deny", Verb: "deny", Data: data{"deny", "req-42"}},
		}},
	)
	card.Version = "1.5"
	b, _ := json.Marshal(card)
	fmt.Println(string(b))
	// Output:
	// {"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Deploy to production","wrap":true,"weight":"bolder"},{"type":"ActionSet","actions":[{"type":"Action.Execute","title":"Approve","verb":"approve","data":{"action":"approve","approval_id":"req-42"},"fallback":{"type":"Action.Submit","title":"Approve","data":{"action":"approve","approval_id":"req-42"}}},{"type":"Action.Execute","title":"Deny","verb":"deny","data":{"action":"deny","approval_id":"req-42"},"fallback":{"type":"Action.Submit","title":"Deny","data":{"action":"deny","approval_id":"req-42"}}}]}],"msteams":{"width":"Full"}}
}
