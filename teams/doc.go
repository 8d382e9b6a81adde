// Package teams holds the Microsoft Teams building blocks of chatnotify's
// approval flow: Adaptive Cards, the result card that replaces a decided
// request, the conversations a bot discovers, and the HMAC check of Teams
// outgoing webhooks. It depends on the standard library only, so both the
// delivery side (package notify, which sends cards) and the interactions
// side (package approval, which answers clicks) build on it. The Bot
// Framework token check, which needs a JWT library, is in its own
// package, teams/botauth.
//
// # Cards
//
// [Card] is an Adaptive Card, by default of version 1.4, the newest
// incoming webhooks and Workflows accept, built from [TextBlock],
// [FactSet], [Container] and [ActionSet] elements and [ActionOpenURL],
// [ActionSubmit] or [ActionExecute] buttons. Colours, sizes
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
// # Cards sent through a bot
//
// A Teams channel reached through the host's bot gets real buttons in
// the card: [ActionExecute] (Universal Actions, Adaptive Cards 1.5), in
// an [ActionSet] of a card whose [Card.Version] is "1.5". A click sends
// the bot an adaptiveCard/action invoke, and the card the bot answers
// with ([NewInvokeResponse]) replaces the clicked one in place. Each
// ActionExecute is written with a fallback Action.Submit carrying the
// same data, for Teams clients without Universal Actions; such a click
// arrives as a message activity, and the bot updates the card afterwards.
//
// # Conversations
//
// When the bot is added to a team, a channel or a chat, or removed from
// one, Teams tells it with a conversationUpdate or installationUpdate
// activity. Package approval's bot endpoint records each as a
// [Conversation] in a [ConversationStore] (store/memstore, store/sqlite
// and store/postgres implement it), per organisation, so that an admin
// picks the conversation to post to instead of copying IDs.
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
