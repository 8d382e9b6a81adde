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
// Errors other than 502 are {"error": "<message>"}. Store errors other
// than [ErrNotFound] and [ErrConflict], and Authorizer errors, never reach
// a response.
package notify
