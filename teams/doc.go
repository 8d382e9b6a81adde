// Package teams holds the Microsoft Teams building blocks of chatnotify's
// approval flow: Adaptive Cards, the result card that replaces a decided
// request, and the HMAC check of Teams outgoing webhooks. It depends on
// the standard library only, so both the delivery side (package notify,
// which sends cards) and the interactions side (package approval, which
// answers clicks) build on it.
//
// # Cards
//
// [Card] is an Adaptive Card 1.4, the newest version incoming webhooks
// and Workflows accept, built from [TextBlock], [FactSet] and [Container]
// elements and [ActionOpenURL] or [ActionSubmit] buttons. Colours, sizes
// and weights are the Adaptive Card strings ("good", "bolder", "large"),
// listed on each field. [NewMessage] wraps cards in the envelope a
// webhook takes; [NewInvokeResponse] wraps one as the answer to an
// Action.Execute click. Text from users goes through [EscapeMarkdown].
//
// Teams drops Action.Submit from cards posted through incoming webhooks
// and Workflows, so such cards carry their Approve and Deny buttons as
// [ActionOpenURL] links (package approval signs them and serves the
// confirmation page they open). Cards sent by a bot may use
// [ActionSubmit] instead.
//
// # Result cards
//
// [ResultCard] renders the outcome of a request, colour-coded:
// [DecisionResult] gives an approval on green and a denial on red; a
// [Result] in style "warning" (amber) tells of anything else, such as an
// expired request.
//
// # Outgoing webhooks
//
// A Teams outgoing webhook signs every request with
// "Authorization: HMAC <base64>" over the raw body; [HMACVerifier]
// checks it in constant time, and [HMACVerifier.Authorization] signs a
// body the same way (for relays and tests).
package teams
