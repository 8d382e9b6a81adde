// Package teams speaks the Microsoft Teams side of chatnotify's approval
// flow: Adaptive Cards, the payloads of button clicks, and the two ways a
// click is authenticated. It imports nothing else from chatnotify, so
// both the delivery code (which sends cards) and the interactions handler
// (which receives clicks) build on it.
//
// # Cards
//
// [Card] is an Adaptive Card 1.4, the newest version incoming webhooks
// and Workflows accept, built from [TextBlock], [FactSet] and [Container]
// elements and [ActionOpenURL] or [ActionSubmit] buttons. [NewMessage]
// wraps cards in the envelope a webhook takes; [NewInvokeResponse] wraps
// one as the answer to an Action.Execute click. [ResultCard] renders the
// outcome of a decision, colour-coded: [ApprovedResult] on green,
// [DeniedResult] on red, [WarningResult] on amber. Text from users goes
// through [EscapeMarkdown].
//
// # Buttons and links
//
// Teams drops Action.Submit from cards posted through incoming webhooks
// and Workflows, so such cards carry Approve and Deny as [ActionOpenURL]
// links built by [ActionURL] around a signed, expiring action token
// minted by a [Signer]. The link opens a confirmation page served by the
// interactions handler (package approval), which decides only after the
// reviewer confirms. Cards sent by a bot may use [ActionSubmit] with
// [ActionData] instead.
//
// # Callbacks
//
// [ParseInteraction] reads the spec's bare data
// {"action": "approve", "approval_id": "…"}, a Bot Framework message
// activity carrying it, an outgoing-webhook command ("@Approver approve
// req-42"), or an adaptiveCard/action invoke. A callback is trusted only
// when authenticated: by an action token in its data ([Signer.Verify]),
// by the "Authorization: HMAC …" header of a Teams outgoing webhook
// ([HMACVerifier]), or by the host (for Bot Framework JWTs).
package teams
