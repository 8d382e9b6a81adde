// Package notify configures Slack and Microsoft Teams notification
// channels and delivers events to them.
//
// A [Channel] is one destination of an organisation: a Slack channel
// reached with a bot token and channel ID or with an incoming webhook, or
// a Teams channel reached with an incoming webhook or Workflows URL or,
// through the host's bot, with a conversation reference. It
// subscribes to some of the event types ([EventType]) approval_request,
// drift_alert and agent_status (all three when its list is empty).
// Channels live in a [ChannelStore] the host provides; the packages under
// store/ implement it in memory, on SQLite and on PostgreSQL.
//
// # Channels and validation
//
// [Channel.Validate] checks a channel the way the settings API does
// before storing it, and answers an error whose message is meant for the
// admin (the settings API answers it with 400), such as "channel_type must be 'slack' or 'teams'",
// "Slack channels require either bot_token + channel_id or webhook_url"
// or "Teams channels require either webhook_url or service_url +
// conversation_id + tenant_id". It trims the name
// and config values, removes duplicate events and replaces an empty event
// list by all three.
//
// A channel name is checked as given: valid UTF-8 (and no U+FFFD, which
// is what a JSON decoder makes of invalid UTF-8), at most 100 characters
// of printable text, without bidirectional controls (U+202A–U+202E,
// U+2066–U+2069, U+200E, U+200F, U+061C) or zero-width characters
// (U+200B–U+200D, U+2060, U+FEFF), which would make it read differently
// from what it is.
//
// A webhook URL is both a credential and a target the server will
// request, so it is checked on its parsed host, never by matching the raw
// string: https only, no user information, port 443 if any, and a host on
// an allow-list (Slack: hooks.slack.com; Teams: outlook.office.com,
// outlook.office365.com, *.webhook.office.com, *.logic.azure.com,
// *.api.powerplatform.com).
//
// A Teams channel reached through the host's bot has a conversation
// reference instead of a webhook URL, all three fields together, never
// with a webhook URL:
//
//	"config": {"service_url": "https://smba.trafficmanager.net/amer/", "conversation_id": "19:…@thread.tacv2", "tenant_id": "72f988bf-…"}
//
// The service URL is a request target too, checked the same way on its
// parsed host against the Bot Framework hosts (smba.trafficmanager.net,
// smba.infra.gcc.teams.microsoft.com, smba.infra.gov.teams.microsoft.us,
// smba.infra.dod.teams.microsoft.us), with no query; the conversation ID
// is a Bot Framework conversation ID and the tenant a GUID. None of them
// is a secret: the bot's credentials are the host's
// ([SenderOptions.TeamsAppID]), never a channel's.
//
// # The one loopback setting
//
// [SenderOptions.AllowLoopbackURLs] also admits http and https URLs on a
// loopback address (webhook URLs and Slack response_urls), for tests and
// local sandboxes only. It is the library's only such setting: the
// settings API validates channels with the policy of the
// [PlatformSender] it is given, so that what it stores is what the sender
// will send to, and the senders check every URL again before each
// request. A loopback URL refused because the setting is off says so
// ("… loopback URLs are refused unless SenderOptions.AllowLoopbackURLs is
// set"), in the settings API's 400 and 409 answers and in delivery
// errors, rather than asking to update the channel.
//
// # Secrets
//
// Bot tokens, webhook URLs and Slack response_urls are secrets, and so
// are the Teams bot's client secret ([SenderOptions.TeamsAppSecret]) and
// the tokens Microsoft Entra issues for it, which are never logged,
// stored or shown.
// [ChannelConfig.Masked] turns the first two into recognisable but
// useless forms ("xoxb-…a1b2", "https://hooks.slack.com/…"). The
// settings API only ever shows masked secrets, and neither it nor its log
// records contain a full one.
//
// # Settings API
//
// [NewSettingsHandler] returns an [http.Handler] serving
//
//	GET    /v1/settings/notifications                    list the channels
//	POST   /v1/settings/notifications                    create a channel
//	GET    /v1/settings/notifications/{channel_id}       read a channel
//	PUT    /v1/settings/notifications/{channel_id}       replace a channel
//	DELETE /v1/settings/notifications/{channel_id}       delete a channel
//	POST   /v1/settings/notifications/{channel_id}/test  send a test notification
//
// and, with [SettingsOptions.Conversations], the Teams conversations the
// host's bot was added to, of the caller's organisation, newest first,
// each with the service_url, conversation_id and tenant_id to put in a
// Teams channel's config (removed ones are listed with "removed": true):
//
//	GET    /v1/settings/notifications/teams/conversations  {"conversations": [...]}
//
// and, with [SettingsOptions.Deliveries] (see "Deliveries and health"
// below),
//
//	GET    /v1/settings/notifications/{channel_id}/deliveries                      recent deliveries
//	POST   /v1/settings/notifications/{channel_id}/deliveries/{delivery_id}/retry  queue a failed one again
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
// except that an id in a PUT body must name the channel in the URL. So
// is health, which the list and GET …/{channel_id} add with
// SettingsOptions.Deliveries.
//
// The list answers 200 with {"channels": [...]}, oldest first, and GET
// …/{channel_id} 200 with the channel. POST
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
//     full configuration for the new platform;
//   - a Teams channel whose body carries a conversation reference
//     (service_url, conversation_id, tenant_id: not secrets, sent in full
//     like channel_id) keeps no webhook URL it does not send, so that a
//     webhook channel can be switched to the bot in one PUT.
//
// So an admin interface can read a channel, change its name and send
// everything back without the secrets ever leaving the server. PUT
// answers 200 with the stored channel, DELETE 204 with no body.
//
// # Test notifications
//
// POST …/{channel_id}/test sends a [TestMessage] to the channel through
// the [PlatformSender] given to [NewSettingsHandler], in one attempt
// bounded by [SettingsOptions.TestTimeout]. Its optional body is
// {"message": "…"}, at most 4000 characters; without one the text is
// "This is a test notification.", or, with [SettingsOptions.ProductName]
// set to the host's product, "This is a test notification from
// <ProductName>.". A disabled channel can be tested too, so that an
// admin can check a channel before enabling it. The answer is 200
// {"ok": true}, or 502 {"ok": false, "error": "…"} whose error is the
// Reason of a *[DeliveryError], or a generic sentence for any other
// error (which is logged with its secrets redacted). A stored channel that
// does not pass validation under the sender's policy (it reached the
// store by another path, or the policy was tightened) is not sent to: the
// answer is 409 {"ok": false, "error": "…"} naming the problem.
//
// # Deliveries and health
//
// Given a [DeliveryStore] as [SettingsOptions.Deliveries] (the stores
// under store/ provide one: their Deliveries method), the settings API
// lets admins see what was delivered to each channel, and act on it. The
// [Dispatcher] writes that log when given the same store as
// [DispatcherOptions.Deliveries] (both queues do; the durable queue in the
// transactions that insert and complete each job), and
// SettingsOptions.Retry is then its [Dispatcher.Retry]:
//
//	d, _ := notify.NewDispatcher(store, sender, &notify.DispatcherOptions{Deliveries: store.Deliveries()})
//	h, _ := notify.NewSettingsHandler(store, sender, auth, &notify.SettingsOptions{
//		Deliveries: store.Deliveries(),
//		Retry:      d.Retry,
//	})
//
// Without a DeliveryStore, the two paths below answer 404 like any
// unknown path and channels carry no health.
//
// Each channel read (the list and GET …/{channel_id}) carries a
// "health" object ([Health]):
//
//	"health": {
//	  "last_delivered_at": "2025-01-31T09:00:00Z",
//	  "last_error": "the bot is not in the channel: invite it or add the chat:write.public scope",
//	  "failing_since": "2025-01-31T09:05:00Z",
//	  "pending": 3,
//	  "failed": 1
//	}
//
// where last_delivered_at, last_error and failing_since are omitted when
// there is none: failing_since is set while a delivery failed after the
// last success, and last_error keeps the latest failure's reason after
// the channel recovers. A health the store fails to read is left out and
// logged; the channel is still shown.
//
// GET …/{channel_id}/deliveries answers 200 with the channel's
// deliveries, newest first:
//
//	{
//	  "deliveries": [{
//	    "id": "0190f2c5-…", "channel_id": "0190f2c4-…", "event": "approval_request",
//	    "approval_id": "req-42", "op": "post", "status": "failed", "attempts": 3,
//	    "reason": "the channel was not found: check the channel ID", "code": "channel_not_found",
//	    "created_at": "…", "updated_at": "…", "first_failed_at": "…"
//	  }],
//	  "next": "MTc…"
//	}
//
// op is post, update (chat.update of a copy, or a Teams bot card
// replaced with the result) or follow_up (a Teams follow-up); status is pending (queued, running or waiting for a retry),
// delivered (with delivered_at) or failed (given up). ?limit=1..100
// sets the page size (default 20); next, absent on the last page, is an
// opaque cursor to pass as ?before= for the following page. Pages are
// stable while deliveries are added: a cursor is a position (creation
// time and ID), not an offset, and stays valid after the delivery it
// names is gone. A limit out of range and a cursor this API did not
// return are 400s. Deliveries hold no secret: no token, webhook URL,
// response_url or message content, and reason is the classified
// [DeliveryError.Reason], scrubbed again of the channel's secrets, of
// any Slack token and of any URL's path before it is shown.
//
// POST …/{channel_id}/deliveries/{delivery_id}/retry queues a failed
// delivery again through [SettingsOptions.Retry] (which the host sets
// to its [Dispatcher.Retry]) and answers 202 with the delivery as it is then
// (normally pending). A delivery that is not failed is a 409; one that
// does not exist, belongs to another channel or another organisation is
// a 404. Without SettingsOptions.Retry the endpoint answers 501
// {"error": "retrying deliveries is not enabled on this server"}: the
// deliveries log is there, but this server cannot queue jobs. The
// request needs no body, and a body is never read.
//
// # Status codes
//
//	200  list, read, update, test delivered, deliveries
//	201  created
//	202  failed delivery queued again
//	204  deleted
//	400  malformed or invalid body, unknown field, validation error, masked secret;
//	     deliveries: limit not 1..100, cursor not from this API
//	401  the Authorizer returned ErrUnauthenticated
//	403  the caller is not an admin
//	404  unknown path, or no such channel (or delivery) in the caller's organisation
//	405  wrong method (with an Allow header)
//	409  name already used in the organisation (ErrConflict); stored channel invalid (test);
//	     retry of a delivery that is not failed
//	413  body larger than MaxBodyBytes
//	415  Content-Type is not application/json
//	500  Authorizer or store failure: {"error": "internal error"}, details only logged
//	501  retry without SettingsOptions.Retry
//	502  test notification not delivered
//
// Errors are {"error": "<message>"}, except the test endpoint's 502 and
// 409 (stored channel invalid), which are {"ok": false, "error": "…"}.
// Store errors other than [ErrNotFound] and [ErrConflict], and Authorizer
// errors, never reach a response.
//
// # Delivery
//
// [PlatformSender], made by [NewSender], renders each event for the
// channel's platform and sends it the right way:
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
//     (success is 202);
//   - a Teams channel with a conversation reference gets an Adaptive
//     Card 1.5 through the Bot Connector as the host's bot (POST
//     {service_url}v3/conversations/{conversation_id}/activities, 201
//     with the activity ID, which the [Receipt] holds), with a token
//     from Microsoft Entra by client credentials
//     (golang.org/x/oauth2/clientcredentials) that every send of the
//     sender shares and that is renewed 5 minutes before it expires.
//     The bot's removal from the conversation (403
//     BotNotInConversationRoster) is the permanent reason "the bot was
//     removed from this Teams conversation: add it again or pick another
//     conversation"; a sender without bot credentials fails such
//     channels with a permanent reason too.
//
// Webhook URLs are checked before every request (go-teams-notify's own
// check, prefix regular expressions, is turned off), redirects are never
// followed, and answers are read up to 1 MiB. [SenderOptions] sets the
// HTTP client, the Slack API URL (for tests and proxies), the host's
// public URL and approval.Signer for Teams links, and a fallback console
// link.
//
// # Messages
//
// On Slack, every event is Block Kit blocks plus a plain text fallback,
// within every documented Block Kit limit; times use Slack's date syntax
// so each reader sees their own time zone, and all text from users or
// agents is escaped (&, <, >), so a title cannot mention @channel or
// forge a link. An approval request sent with a bot token carries
// Approve ("approve_action", primary) and Deny ("deny_action", danger)
// buttons whose value is the request ID, and a "View in console" link
// button when a console link is known. Sent through an incoming webhook,
// which cannot receive clicks, it carries only the console link. A
// [TestMessage] is plain text.
//
// On Teams, every event is a full-width Adaptive Card 1.4 with a
// colour-coded header and a fact set, kept under Teams' 28 KB limit by
// shortening long texts. Teams webhooks cannot post a click back, so
// Approve and Deny are Action.OpenUrl links to the host's Teams
// interactions endpoint (approval.TeamsInteractionsPath under
// [SenderOptions.PublicURL]) carrying a signed action token that names
// the request's organisation and expires with the request. Without
// PublicURL and [SenderOptions.Signer], the card has only the console
// link and says that the request must be decided in the console.
//
// A Teams channel reached through the bot gets real buttons instead: the
// card is version 1.5, and Approve and Deny are Action.Execute (verbs
// approve and deny, data {"action": …, "approval_id": …}) in an
// ActionSet, each with an Action.Submit fallback carrying the same data
// for older clients. The clicks go to the bot's messaging endpoint in
// package approval.
//
// # Errors
//
// Senders return a *[DeliveryError] whose Reason tells an admin what to
// do ("the bot is not in the channel: invite it or add the
// chat:write.public scope", "the webhook URL is no longer valid
// (no_service): create a new incoming webhook and update the channel"),
// with the platform's Code, the HTTP status, whether it is Permanent and
// the platform's Retry-After (seconds or an HTTP date). No error, result
// or log line ever holds a bot token, a webhook URL, a response_url or
// any part of one: upstream error texts (which for network errors
// include the URL) are classified and dropped, and only strings that
// look like error codes are kept from an answer.
//
// # One queue
//
// A [Dispatcher] delivers every job through one queue and one retry
// policy. [Dispatcher.Enqueue] hands over an event for an organisation
// and returns at once; the event becomes one post job per enabled channel
// of the organisation subscribed to its type. A full queue
// ([DispatcherOptions.QueueSize]) is [ErrQueueFull], returned to the
// caller: nothing accepted is ever dropped silently. Every job's final
// [Result] goes to [DispatcherOptions.OnDelivery] and the logger. The
// first job starts the workers; [Dispatcher.Close] stops taking new work
// and waits for the queued and in-flight jobs, or, when its context ends
// first, cancels them (each is reported as cancelled) and returns the
// context's error.
//
// A job is one operation on one destination: a post, a chat.update, a
// Teams follow-up, a response_url replacement, an ephemeral answer. A
// destination (a Slack channel, a webhook, a response_url) runs one job
// at a time, in order, so a slow or failing destination delays only
// itself, and a job waiting for a retry holds no worker
// ([DispatcherOptions.Workers] run at once). Each destination channel is
// also rate limited with sliding windows (Slack: 3 per 3 seconds, its
// "one per second with short bursts"; Teams: 4 per second and 60 per 30
// seconds; a Teams conversation reached through the bot: 7 per second,
// 8 per 2 seconds, 60 per 30 seconds and 1,800 per hour; see
// [DispatcherOptions.SlackRates]). A bot send is retried on 429 (after
// its Retry-After), 412, 500, 502, 503 and 504; 400, 401, 403 and 404
// are permanent.
//
// The retry policy: a 429 answer is retried after its Retry-After, which
// also holds back the channel's other deliveries, unless it exceeds
// [DispatcherOptions.MaxRetryAfter] (30 s): then the job fails rather
// than retrying early. Server and network errors are retried with
// exponential backoff and jitter, within [DispatcherOptions.MaxAttempts]
// (4) and [DispatcherOptions.MaxElapsed] (2 minutes). Permanent errors
// (invalid_auth, token_revoked, channel_not_found, not_in_channel,
// is_archived, webhook 4xx, an expired response_url) are not retried; nor
// is an ephemeral warning that got no answer, which might otherwise show
// twice.
//
// # Every copy shows the decision
//
// Hosts set approval.Options.FollowUp to [Dispatcher.FollowUp], the one
// hook through which approval hands over its outbound work:
//
//	sender, _ := notify.NewSender(&notify.SenderOptions{PublicURL: publicURL, Signer: signer})
//	d, _ := notify.NewDispatcher(store, sender, &notify.DispatcherOptions{Posts: store, Approvals: store})
//	svc, _ := approval.NewService(store, store, &approval.Options{Signer: signer, FollowUp: d.FollowUp})
//	settings, _ := notify.NewSettingsHandler(store, sender, authorize, nil)
//
// With a [PostStore] ([DispatcherOptions.Posts]), the dispatcher records
// where each approval request was posted. When a request is approved,
// denied or expires, by any path (Slack, Teams, the host's own API, an
// expiry sweep), its FollowUp queues one job per recorded copy of that
// organisation's request: a Slack message posted with a bot token is
// rewritten with chat.update (the result, without buttons), the card the
// Teams bot posted is replaced in place with the result card (PUT of its
// activity), and each Teams webhook channel that received the card gets
// a short result card, since cards sent through webhooks cannot be
// edited. Slack messages posted
// through an incoming webhook cannot be edited either; they keep their
// console link and are left as they are.
//
// A copy is recorded only once the platform has answered, so a request
// decided while its notification is queued or in flight would keep its
// buttons. Hosts also set [DispatcherOptions.Approvals] (their approval
// store) to close that gap: right after recording a copy, the dispatcher
// reads the request again and, when it has been decided meanwhile,
// queues the update of that copy, and only once (within one process; see
// the option).
//
// After a Slack click, approval's Slack handler hands over the click's
// response_url: the clicked message is then replaced with the request's
// result (replace_original), or, when the click could not be decided, a
// warning is shown to the clicker only (response_type "ephemeral",
// replace_original false). Only https://hooks.slack.com/ response_urls
// are used, for the 30 minutes Slack accepts them.
//
// Package notifytest is a fake Slack and Teams speaking their wire
// formats, for testing hosts against the real sender.
package notify
