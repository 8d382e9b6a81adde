// Package notifytest provides fakes of the Slack and Microsoft Teams
// endpoints that chatnotify delivers to, for tests of chatnotify itself
// and of the hosts that embed it. It uses only the standard library.
//
// # Fakes
//
// [NewSlack] starts a fake Slack on an httptest server: the Web API
// methods chat.postMessage and chat.update (form-encoded, token in the
// body, answering {"ok":true,"channel":…,"ts":…} or
// {"ok":false,"error":…}) under [Slack.APIURL], and incoming webhooks
// (answering "ok", or an error body such as "no_service" with its
// status) at [Slack.WebhookURL]. [NewTeams] starts a fake Teams endpoint
// whose [Teams.LegacyURL] answers 200 with "1" and whose
// [Teams.WorkflowsURL] answers 202 Accepted.
//
// The fakes listen on a loopback address over plain http, so point
// chatnotify at them with notify.SenderOptions.AllowLoopbackURLs (and
// SlackAPIURL for the Web API).
//
// # Recording
//
// Every request is recorded, decoded: [Slack.Requests] returns
// [SlackRequest] values with the text, the blocks and helpers such as
// [SlackRequest.Buttons]; [Teams.Requests] returns [TeamsRequest] values
// with the cards and [TeamsRequest.Actions].
//
// # Conversations
//
// [Slack.Messages] shows each channel as a Slack client would now:
// messages posted with chat.postMessage or through a webhook, with every
// chat.update and every response_url replacement applied to them.
// [Slack.ResponseURL] gives the response_url of a posted message, as Slack
// puts it in a click's payload; POSTs to it replace, delete or answer the
// message as Slack does.
//
// # Faults
//
// FailNext queues wrong answers for the next requests: [RateLimited]
// (HTTP 429 with Retry-After), [ServerError] (503), [PlatformError] (a
// Slack error code with its usual status), [TeamsThrottled] (the legacy
// connectors' 200 with "HTTP error 429" in the body), [Hang] (no answer
// until the client gives up), or any [Fault]. SetLatency slows every
// normal answer, for benchmarks.
package notifytest
