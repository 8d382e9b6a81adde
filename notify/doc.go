// Package notify configures Slack and Microsoft Teams notification
// channels and delivers events to them.
//
// A [Channel] is one destination of an organisation: a Slack channel
// reached with a bot token and channel ID or with an incoming webhook, or
// a Teams channel reached with an incoming webhook or Workflows URL. It
// subscribes to some of the event types ([EventType]) approval_request,
// drift_alert and agent_status (all three when its list is empty).
// Channels live in a [ChannelStore] the host provides; the packages under
// store/ implement it in memory, on SQLite and on PostgreSQL.
//
// # Channels and validation
//
// [Channel.Validate] checks a channel the way the settings API does
// before storing it, and answers a *[ValidationError] whose message is
// meant for the admin, such as "channel_type must be 'slack' or 'teams'",
// "Slack channels require either bot_token + channel_id or webhook_url"
// or "A webhook_url is required for Teams channels". It trims the name
// and config values, removes duplicate events and replaces an empty event
// list by all three.
//
// A webhook URL is both a credential and a target the server will
// request, so it is checked on its parsed host, never by matching the raw
// string: https only, no user information, port 443 if any, and a host on
// an allow-list (Slack: hooks.slack.com; Teams: outlook.office.com,
// outlook.office365.com, *.webhook.office.com, *.logic.azure.com,
// *.api.powerplatform.com). [ValidateOptions.AllowLoopbackURLs] also
// admits http and https URLs on a loopback address, for tests and local
// sandboxes only. [CheckWebhookURL] applies the same rules on its own.
//
// # Secrets
//
// Bot tokens and webhook URLs are secrets. [ChannelConfig.Masked] turns
// them into recognisable but useless forms ("xoxb-…a1b2",
// "https://hooks.slack.com/…") and [IsMasked] recognises those forms. The
// settings API only ever shows masked secrets, and neither it nor its log
// records contain a full one.
//
// # Settings API
//
// [NewSettingsHandler] returns an [http.Handler] serving
//
//	GET    /v1/settings/notifications                    list the channels
//	POST   /v1/settings/notifications                    create a channel
//	PUT    /v1/settings/notifications/{channel_id}       replace a channel
//	DELETE /v1/settings/notifications/{channel_id}       delete a channel
//	POST   /v1/settings/notifications/{channel_id}/test  send a test notification
//
// Mounted at the root of a server it answers exactly these paths: any
// other path is a 404 and a wrong method a 405 with an Allow header, both
// with a JSON body. To serve the API under a prefix, strip it:
//
//	mux.Handle("/api/", http.StripPrefix("/api", settings))
//
// or, with chi, whose Mount keeps the prefix:
//
//	r.Mount("/api", http.StripPrefix("/api", settings))
//
// # Callers and organisations
//
// Every endpoint requires an admin. The host's [Authorizer] turns each
// request into a [Caller] (organisation and admin flag) before the body
// is read: [ErrUnauthenticated] is answered with 401, a non-admin with
// 403. Every read and write is scoped to the caller's organisation; a
// channel of another organisation is never listed and answers 404 on
// every other endpoint, exactly like a channel that does not exist. The
// organisation is never taken from the request body: the JSON has no
// field for it, and unknown fields are rejected.
//
// # Request and response bodies
//
// Bodies are JSON (a Content-Type other than application/json is a 415),
// at most [SettingsOptions.MaxBodyBytes] long (413), and hold exactly one
// object with no unknown fields (400 naming the problem). A channel is
// written and read as
//
//	{
//	  "id": "0190f2c4-…",
//	  "channel_type": "slack",
//	  "name": "Security Alerts",
//	  "config": {"bot_token": "xoxb-…a1b2", "channel_id": "C0123456789", "webhook_url": "https://hooks.slack.com/…"},
//	  "events": ["approval_request", "drift_alert", "agent_status"],
//	  "enabled": true,
//	  "created_at": "2025-01-31T09:00:00Z",
//	  "updated_at": "2025-01-31T09:00:00Z"
//	}
//
// where id, created_at and updated_at are read-only: a request may carry
// them (so a client can send back what it read) and they are ignored,
// except that an id in a PUT body must name the channel in the URL.
//
// The list answers 200 with {"channels": [...]}, oldest first. POST
// answers 201 with the stored channel and a Location header relative to
// the request ("notifications/{id}", which resolves correctly under any
// prefix); enabled defaults to true and events to all three.
//
// PUT replaces the channel with the body, which has the shape of a POST
// body: channel_type, name, config and events are taken as sent (events
// omitted means all three, channel_id omitted means none), with two
// exceptions. An omitted enabled keeps the stored value. And secrets
// are write-only:
//
//   - a bot_token or webhook_url that is omitted, or sent back exactly as
//     the API showed it (masked), keeps the stored value;
//   - an empty string clears it, for instance to switch a Slack channel
//     from its webhook to a bot token;
//   - any other masked-looking value (one containing "…") is a 400 asking
//     for the full secret, or for the field to be omitted;
//   - when channel_type changes, nothing is kept: the body must carry the
//     full configuration for the new platform.
//
// So an admin interface can read a channel, change its name and send
// everything back without the secrets ever leaving the server. PUT
// answers 200 with the stored channel, DELETE 204 with no body.
//
// # Test notifications
//
// POST …/{channel_id}/test sends a [TestMessage] to the channel through
// the [Sender] given to [NewSettingsHandler], bounded by
// [SettingsOptions.TestTimeout]. Its optional body is {"message": "…"}, at
// most 4000 characters; without one the text is
// [SettingsOptions.DefaultTestMessage], "This is a test notification from
// ARXsec." by default. A disabled channel can be tested too, so that an
// admin can check a channel before enabling it. The answer is 200
// {"ok": true}, or 502 {"ok": false, "error": "…"} whose error is the
// Reason of a *[DeliveryError], or a generic sentence for any other
// error (which is logged with its secrets redacted). A stored channel that
// no longer passes validation, for instance after a tightening of
// [SettingsOptions.Validate], is not sent to: the answer is 409
// {"ok": false, "error": "…"} naming the problem.
//
// # Status codes
//
//	200  list, update, test delivered
//	201  created
//	204  deleted
//	400  malformed or invalid body, unknown field, validation error, masked secret
//	401  the Authorizer returned ErrUnauthenticated
//	403  the caller is not an admin
//	404  unknown path, or no such channel in the caller's organisation
//	405  wrong method (with an Allow header)
//	409  name already used in the organisation (ErrConflict); stored channel invalid (test)
//	413  body larger than MaxBodyBytes
//	415  Content-Type is not application/json
//	500  Authorizer or store failure: {"error": "internal error"}, details only logged
//	502  test notification not delivered
//
// Errors are {"error": "<message>"}, except the test endpoint's 502 and
// 409 (stored channel invalid), which are {"ok": false, "error": "…"}.
// Store errors other than [ErrNotFound] and [ErrConflict], and Authorizer
// errors, never reach a response.
//
// # Delivery
//
// [PlatformSender], made by [NewSender], is the built-in [Sender]. It
// renders each event for the channel's platform and sends it the right
// way:
//
//   - a Slack channel with bot token and channel ID gets chat.postMessage
//     through the Web API (preferred when a webhook URL is also set); the
//     [Receipt] holds the Slack channel and message ts;
//   - a Slack channel with only a webhook URL gets a plain POST to the
//     incoming webhook (not slack-go's PostWebhook, which throws away the
//     error body), classified on its body, not its status;
//   - a Teams channel gets an Adaptive Card 1.4 through go-teams-notify's
//     client, for legacy connector URLs (success is 200 with body "1";
//     throttling is 200 with "429" in the body) and Workflows URLs
//     (success is 202).
//
// Webhook URLs are checked with [CheckWebhookURL] before every request
// (go-teams-notify's own check, prefix regular expressions, is turned
// off), redirects are never followed, and answers are read up to 1 MiB.
// [SenderOptions] sets the HTTP client, the Slack API URL (for tests and
// proxies), the host's public URL and [teams.Signer] for Teams links, and
// a fallback console link.
//
// # Messages
//
// On Slack, every event is Block Kit blocks plus a plain text fallback:
// risk and severity are shown as emoji and word (":red_circle: High risk
// (82)"), times with Slack's date syntax so each reader sees their own
// time zone, and all text from users or agents is escaped (&, <, >), so a
// title cannot mention @channel or forge a link. Texts are cut to Block
// Kit's limits (3000 characters a section, 150 a header, 2000 a field, 50
// blocks), never refused. An approval request sent with a bot token
// carries Approve ([approval.SlackApproveAction], primary) and Deny
// ([approval.SlackDenyAction], danger) buttons whose value is the request ID, and
// a "View in console" link button ([approval.SlackConsoleAction]) when a console
// link is known. Sent through an incoming webhook, which cannot receive
// clicks, it carries only the console link. A [TestMessage] is plain
// text.
//
// On Teams, every event is a full-width Adaptive Card 1.4 with a
// colour-coded header (green, amber or red by risk, severity or state)
// and a fact set, kept under Teams' 28 KB limit by shortening long texts.
// Teams webhooks cannot post a click back, so Approve and Deny are
// Action.OpenUrl links to the host's Teams interactions endpoint
// carrying a signed action token that expires with the request (or after
// [SenderOptions.TokenTTL], 7 days by default, for requests without a
// deadline). Without [SenderOptions.PublicURL] and
// [SenderOptions.Signer], the card has only the console link and says
// that the request must be decided in the console.
//
// # Errors
//
// Senders return a *[DeliveryError] whose Reason tells an admin what to
// do ("the bot is not in the channel: invite it or add the
// chat:write.public scope", "the webhook URL is no longer valid
// (no_service): create a new incoming webhook and update the channel"),
// with the platform's Code, the HTTP status, whether it is Permanent and
// the platform's Retry-After. No error, result or log line ever holds a
// bot token, a webhook URL or any part of one: upstream error texts
// (which for network errors include the URL) are classified and dropped,
// and only strings that look like error codes are kept from an answer.
//
// # Dispatching
//
// A [Dispatcher] delivers an event to every enabled channel of an
// organisation subscribed to its type ([Dispatcher.Dispatch]), with a
// bounded number of deliveries at once ([DispatcherOptions.Workers]), and
// returns a [Result] per channel, also passed to
// [DispatcherOptions.OnDelivery] and logged. A failed delivery is a
// Result, never a silent drop.
//
// Each destination is rate limited with sliding windows
// ([DefaultSlackRates]: 3 per 3 seconds, Slack's "one per second with
// short bursts"; [DefaultTeamsRates]: 4 per second and 60 per 30
// seconds). A 429 answer is retried after its Retry-After, which also
// holds back the channel's other deliveries, unless it exceeds
// [DispatcherOptions.MaxRetryAfter] (30 s): then the delivery fails
// rather than retrying early. Server and network errors are retried with
// exponential backoff and jitter, within [DispatcherOptions.MaxAttempts]
// (4) and [DispatcherOptions.MaxElapsed] (2 minutes). Permanent errors
// (invalid_auth, token_revoked, channel_not_found, not_in_channel,
// is_archived, webhook 4xx) are not retried. Cancelling the context stops
// everything promptly: waits end, sends are aborted, and the remaining
// channels come back as cancelled.
//
// # Background delivery
//
// Hosts that do not want to wait call [Dispatcher.Enqueue], which queues
// the event in a bounded queue ([DispatcherOptions.QueueSize]) and
// returns at once; a full queue is [ErrQueueFull], returned to the
// caller. The first Enqueue starts the workers; [Dispatcher.Close] stops
// taking new work and waits for the queued and in-flight deliveries, or,
// when its context ends first, cancels them (each is reported as
// cancelled) and returns the context's error.
//
// # Every copy shows the decision
//
// With a [PostStore] ([DispatcherOptions.Posts]), the dispatcher records
// where each approval request was posted. Hosts set
// approval.Options.OnDecided to [Dispatcher.Decided]: when a request is
// approved, denied or expires, by any path (Slack, Teams, the host's own
// API, an expiry sweep), it queues [Dispatcher.UpdatePosts], which
// rewrites every Slack message posted with a bot token with chat.update
// (the same result message approval's Slack handler shows, without
// buttons) and sends each Teams channel that received the card a short
// result card ([ApprovalDecided]), since cards sent through webhooks
// cannot be edited. Slack messages posted through an incoming webhook
// cannot be edited either; they keep their console link and are left as
// they are.
//
// A copy is recorded only once the platform has answered, so a request
// decided while its notification is queued or in flight would keep its
// buttons. Hosts also set [DispatcherOptions.Approvals] (their approval
// store) to close that gap: right after recording a copy, the dispatcher
// reads the request again and, when it has been decided meanwhile,
// updates that copy at once, and only once (within one process; see the
// option).
//
// Package notifytest has fakes of the Slack Web API, Slack incoming
// webhooks and Teams webhooks, for testing hosts against the real
// senders.
package notify
