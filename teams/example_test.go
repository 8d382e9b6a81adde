package teams_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chatnotify/chatnotify/teams"
)

// A card for an incoming webhook: Approve and Deny are links holding
// signed tokens, because Teams drops Action.Submit from webhook cards.
func ExampleSigner() {
	signer, err := teams.NewSigner([]byte(strings.Repeat("s", 32))) // use 32 random bytes
	if err != nil {
		panic(err)
	}
	expires := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	approve := signer.Sign(teams.ActionClaims{ApprovalID: "req-42", Action: teams.ActionApprove, ExpiresAt: expires})

	card := teams.NewCard(teams.TextBlock{Text: "Deploy to production", Weight: teams.WeightBolder, Wrap: true})
	card.Actions = []teams.Action{
		teams.ActionOpenURL{Title: "Approve", URL: teams.ActionURL("https://arx.example.com", approve)},
	}
	msg, _ := json.Marshal(teams.NewMessage(card))
	fmt.Println(strings.Contains(string(msg), `"url":"https://arx.example.com/v1/webhooks/teams/interactions?token=cn1.`))

	// The handler behind the link checks the token before anything else.
	claims, err := signer.Verify(approve, expires.Add(-time.Minute))
	fmt.Println(claims.ApprovalID, claims.Action, err)
	_, err = signer.Verify(approve, expires)
	fmt.Println(err)
	// Output:
	// true
	// req-42 approve <nil>
	// teams: action token has expired
}

// The card that replaces an approval request once it is decided.
func ExampleResultCard() {
	at := time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC)
	card := teams.ResultCard(teams.ApprovedResult("Deploy to production", "Jane Doe", at))
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
	in, _ := teams.ParseInteraction(body)
	fmt.Println(in.Kind, in.Action, in.ApprovalID, in.From.Name)
	// Output:
	// <nil>
	// command approve req-42 Jane Doe
}
