// Package approval decides approval requests: the one routine that Slack
// buttons, Teams links and callbacks, and the host's own API all go
// through, and the webhook handlers that turn clicks into calls to it.
//
// # Place in chatnotify
//
// An agent asks to do something risky; the host stores an approval
// [Request] with [Service.Create] and asks package notify to deliver it to
// the organisation's Slack and Teams channels, where reviewers find
// Approve and Deny buttons (Slack) or signed links (Teams, see package
// teams). Their clicks arrive at the handlers of this package, which
// decide through [Service.Review]; notify then rewrites every posted copy
// with the outcome (see [Options.OnDecided]).
//
// # The routine
//
// [Service.Review] follows the spec's processing logic:
//
//  1. a missing request: [ErrNotFound], "Approval request not found";
//  2. a request decided before: [ErrAlreadyApproved], [ErrAlreadyDenied]
//     or [ErrExpired], "Already approved", "Already denied", "Approval
//     request has expired";
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
// [AuditLogger] and [AuditLister]; store/storetest checks any other
// implementation.
//
// # Expiry without a click
//
// A request past its deadline is marked expired when someone clicks it.
// To show it as expired in chat before anyone does, hosts run
// [Service.ExpireDue] on a timer (every 30 seconds or so, in a goroutine
// they own): it lists due requests through the store's optional
// [ExpiryLister] and expires each once, audited and reported to
// [Options.OnDecided] like any other outcome. Sweeps in several replicas
// may overlap safely.
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
// [SlackHandler] serves POST /v1/webhooks/slack/interactions; mount it
// behind package slackverify's middleware. [TeamsHandler] serves GET and
// POST /v1/webhooks/teams/interactions: authenticated Action.Submit data
// (bare or in Bot Framework activities) and the confirmation pages of the
// signed Approve and Deny links on webhook-delivered Teams cards. Both
// answer exactly their path from the root; under a prefix, wrap them in
// [net/http.StripPrefix].
package approval
