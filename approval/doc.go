// Package approval is chatnotify's domain and its inbound side: approval
// requests, the one routine that decides them (Slack buttons, Teams links,
// callbacks and bot buttons, and the host's own API all go through it),
// the store contracts, and the webhook handlers that turn clicks into
// calls to it.
// It sends nothing and renders no Slack message: what must be sent after a
// decision it hands to one hook, [Options.FollowUp].
//
// # Place in chatnotify
//
// An agent asks to do something risky; the host stores an approval
// [Request] with [Service.Create] and asks package notify to deliver it to
// the organisation's Slack and Teams channels, where reviewers find
// Approve and Deny buttons (Slack) or links and buttons carrying action
// tokens (Teams, see [Signer]). Their clicks arrive at the handlers of
// this package, which decide through [Service.Review]; every decision and
// expiry is then handed to [Options.FollowUp] as a [FollowUp], which the
// host wires to notify's Dispatcher so that every posted copy is
// rewritten with the outcome.
//
// # Organisations
//
// Every request belongs to an organisation, and every read and decision
// names one: [Service.Get], [Service.Review] and [Service.Expire] take
// the organisation's ID beside the request's, and a request of another
// organisation is [ErrNotFound], exactly like one that does not exist.
// IDs are unique per organisation only. A click carries its organisation
// with it: a Slack click through [SlackOptions.OrgID] (the workspace and
// channel Slack signed), a Teams click in its signed action token, a
// click on a card the host's Teams bot sent through
// [TeamsBotOptions.OrgID] (the tenant of the authenticated activity); the
// host's own API passes the caller's organisation.
//
// # The routine
//
// [Service.Review] follows the spec's processing logic:
//
//  1. a missing request: [ErrNotFound], "Approval request not found";
//  2. a request decided before: [ErrNotPending] or [ErrExpired],
//     "Already approved", "Already denied", "Approval request has
//     expired";
//  3. a request past its deadline: marked expired once (audited as
//     [AuditExpired]), [ErrExpired];
//  4. otherwise the decision, reviewer and source are recorded, with
//     review notes such as "Approved by amy via Slack", and audited as
//     [AuditReviewed] with the risk score, reviewer and source.
//
// [Message] turns any error into the text shown to a reviewer, so that
// internal error text never reaches a chat message. Step 2 to 4 rest on
// [ApprovalStore.DecideApproval], one conditional write: of any number of
// concurrent clicks on one request, in any number of processes, exactly
// one wins. The packages under store/ implement [ApprovalStore],
// [AuditLogger], [AuditLister] and [ExpiryLister]; store/storetest checks
// any other implementation.
//
// # Expiry without a click
//
// A request past its deadline is marked expired when someone clicks it.
// To show it as expired in chat before anyone does, hosts run
// [Service.ExpireDue] on a timer (every 30 seconds or so, in a goroutine
// they own): it lists due requests of every organisation through the
// store's optional [ExpiryLister] and expires each once, audited and
// handed to [Options.FollowUp] like any other outcome. Sweeps in several
// replicas may overlap safely.
//
// # Who may decide
//
// By default anyone who can click may decide, as the spec describes.
// [Options.Policy] lets the host refuse reviewers (map the Slack or Teams
// user to a host user and check a role), and [Options.ResolveUser] blocks
// self-approval. Hosts should set both: a chat channel's members are
// rarely exactly the host's approvers.
//
// # Handlers
//
// [NewSlackHandler] returns the handler of POST
// /v1/webhooks/slack/interactions; it refuses to build one without a
// [SlackOptions.Verifier] (Slack's signature check) unless the host sets
// [SlackOptions.AllowUnsigned]. [NewTeamsHandler] returns the handler of
// GET and POST /v1/webhooks/teams/interactions: Action.Submit and
// Action.Execute data (bare or in Bot Framework activities) and the
// confirmation pages of the Approve and Deny links on webhook-delivered
// Teams cards, every one proven by an action token of the Service's
// [Signer]. [NewTeamsBotHandler] returns the handler of POST
// /v1/webhooks/teams/messages, the messaging endpoint of the host's Teams
// bot (see below). Each answers exactly its path from the root; under a
// prefix, wrap it in [net/http.StripPrefix].
//
// # Teams through a bot
//
// Teams incoming webhooks and Workflows cannot send a click back, so their
// cards carry links; a Teams channel reached through the host's own bot
// (an Azure Bot registration) gets real Approve and Deny buttons
// (Action.Execute) whose card is replaced in place. The bot's messaging
// endpoint, [NewTeamsBotHandler], authenticates every request with a
// [BotAuthenticator] before reading it: the Bot Framework JWT, checked by
// package teams/botauth, which the host wires in, so that this package
// imports no JWT library. There is no way to run the endpoint without
// one. The reviewer is the Teams user the Bot Connector vouches for
// (their Entra object ID and name), recorded as verified; the
// organisation is the one [TeamsBotOptions.OrgID] maps the activity's
// tenant to. The decision goes through [Service.Review] like any other,
// and the answer to the click is the result card, shown at once in
// place of the clicked card, also for a click Teams retries. The same
// endpoint records the conversations the bot is added to and removed
// from ([TeamsBotOptions.Conversations]), so that admins pick one in the
// settings API.
package approval
